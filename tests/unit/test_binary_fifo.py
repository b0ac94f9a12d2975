"""The binary message's FIFO, filled before any reader exists (actors/binary_fifo.py)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from actors import binary_fifo
from actors.binary_fifo import FifoWriter
from actors.sdk import actor as sdk


@pytest.fixture
def fifo_path(monkeypatch):
    path = Path(tempfile.mkdtemp(prefix="fifo", dir="/tmp"))
    monkeypatch.setattr(sdk, "BINARY_DATA_PATH", str(path / "binary"))
    yield path / "binary"
    shutil.rmtree(path, ignore_errors=True)


def read_until_first_empty_read(path: Path) -> bytes:
    """How agavepy reads: a non-blocking open, then reads until one gives nothing."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


def test_a_mebibyte_is_whole_in_the_pipe_before_anyone_reads(fifo_path):
    data = os.urandom(1 << 20)
    writer = FifoWriter(fifo_path, data)
    try:
        assert writer.whole and writer.capacity >= len(data)
        assert read_until_first_empty_read(fifo_path) == data
    finally:
        writer.close()


def test_a_reader_to_end_of_file_finishes(fifo_path):
    data = os.urandom(300_000)
    writer = FifoWriter(fifo_path, data)
    try:
        assert sdk.get_binary_message() == data       # the writer closes once the pipe is drained
    finally:
        writer.close()


def test_what_does_not_fit_is_written_as_the_reader_drains(fifo_path, monkeypatch):
    monkeypatch.setattr(binary_fifo, "enlarge", lambda fd, wanted: binary_fifo.pipe_capacity(fd))
    data = os.urandom(1 << 20)
    writer = FifoWriter(fifo_path, data)
    try:
        assert not writer.whole and writer.written == writer.capacity
        assert sdk.get_binary_message() == data
    finally:
        writer.close()


def test_close_ends_the_pipe_of_a_container_that_never_read(fifo_path):
    writer = FifoWriter(fifo_path, b"x" * 1000)
    writer.close()
    assert writer.fd is None
