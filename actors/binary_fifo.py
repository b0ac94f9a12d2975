"""The FIFO that carries a binary message into its container, filled before the container starts.

agavepy's ``get_binary_message`` (unchanged actor images) opens ``/_abaco_binary_data``
non-blocking and stops at its first empty read, so the whole message must already sit
in the pipe when the container starts, and the pipe must not be torn down before the
container opens it. So the worker opens the FIFO read-write (the open never blocks and
keeps the pipe alive with no reader yet), enlarges the pipe to hold the message
(``F_SETPIPE_SZ``; past ``/proc/sys/fs/pipe-max-size`` a root worker without
CAP_SYS_RESOURCE raises that limit, only ever upwards) and writes it all. When the pipe
cannot be made that large, what does not fit is written by a thread as the reader drains
the pipe.

The worker's end stays open until the message has been read whole (the pipe is empty),
then it is closed, so readers that read to end-of-file (the project's own SDK, in any
version) finish too; ``close`` at the container's exit closes it in any case.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import select
import struct
import termios
import threading
from pathlib import Path

log = logging.getLogger(__name__)

PIPE_MAX_SIZE = Path("/proc/sys/fs/pipe-max-size")
POLL_SECONDS = 0.05          # how often a drained pipe is looked for, and a stop asked


def pipe_capacity(fd: int) -> int:
    return fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)


def raise_pipe_max_size(wanted: int) -> bool:
    """Raise /proc/sys/fs/pipe-max-size to hold ``wanted`` bytes (root only; never lowers it)."""
    try:
        current = int(PIPE_MAX_SIZE.read_text())
        if current >= wanted:
            return False
        PIPE_MAX_SIZE.write_text(str(1 << (wanted - 1).bit_length()))
    except (OSError, ValueError) as exc:
        log.info("cannot raise %s to %d bytes: %s", PIPE_MAX_SIZE, wanted, exc)
        return False
    log.info("raised %s from %d to hold a binary message of %d bytes", PIPE_MAX_SIZE, current, wanted)
    return True


def enlarge(fd: int, wanted: int) -> int:
    """Make the pipe hold ``wanted`` bytes if it may; returns its capacity."""
    current = pipe_capacity(fd)
    if wanted <= current:
        return current
    for attempt in range(2):
        try:
            return fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, wanted)
        except PermissionError:  # past pipe-max-size without CAP_SYS_RESOURCE: raise the limit once
            if attempt or not raise_pipe_max_size(wanted):
                break
        except OSError as exc:   # ENOMEM/EBUSY: no room
            log.info("cannot make the binary message's pipe hold %d bytes: %s", wanted, exc)
            break
    try:
        return fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, min(wanted, int(PIPE_MAX_SIZE.read_text())))
    except (OSError, ValueError):
        return pipe_capacity(fd)


def unread(fd: int) -> int:
    """Bytes written to the pipe and not read yet."""
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]


class FifoWriter:
    """A binary message put into a FIFO at ``path`` (made here, mode 0666, unless ``existing``:
    a warm container's FIFO, mounted once, carries one message after another)."""

    def __init__(self, path: Path, data: bytes, existing: bool = False):
        if not existing:
            os.mkfifo(path, 0o666)
            os.chmod(path, 0o666)          # containers may run as any user
        self.data = memoryview(data)
        self.fd: int | None = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        self.capacity = enlarge(self.fd, len(data))
        self.written = self._write_some()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._feed, daemon=True, name=f"fifo-{path.parent.name}")
        self._thread.start()

    @property
    def whole(self) -> bool:
        """The whole message was in the pipe before the container started."""
        return self.written == len(self.data)

    def _write_some(self) -> int:
        written = 0
        assert self.fd is not None
        while written < len(self.data):
            try:
                written += os.write(self.fd, self.data[written:])
            except BlockingIOError:
                break
        return written

    def _feed(self) -> None:
        """Write what did not fit as the reader drains; close once all of it was read."""
        while not self._stop.is_set():
            with self._lock:
                if self.fd is None:
                    return
                if self.written < len(self.data):
                    _, ready, _ = select.select([], [self.fd], [], POLL_SECONDS)
                    if ready:
                        try:
                            self.written += os.write(self.fd, self.data[self.written:])
                        except BlockingIOError:
                            pass
                        except OSError as exc:
                            if exc.errno != errno.EPIPE:
                                log.warning("writing the binary message failed: %s", exc)
                            self._close()
                            return
                    continue
                if self.data and unread(self.fd) == 0:   # the reader has it all: let it see end-of-file
                    self._close()
                    return
            self._stop.wait(POLL_SECONDS)

    def _close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def close(self) -> None:
        """The container has exited: stop writing and close the pipe."""
        self._stop.set()
        self._thread.join(timeout=2)
        with self._lock:
            self._close()
