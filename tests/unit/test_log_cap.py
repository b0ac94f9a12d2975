"""Container logs are read as a stream and cut at the limit: never the whole log in memory."""

from __future__ import annotations

from actors.runtime.docker import log_file_bytes, read_capped


class Chunks:
    """A stream of byte chunks that records how far it was read and whether it was closed."""

    def __init__(self, chunks):
        self.chunks, self.read, self.closed = list(chunks), 0, False

    def __iter__(self):
        for chunk in self.chunks:
            self.read += 1
            yield chunk

    def close(self):
        self.closed = True


def test_a_log_under_the_limit_is_read_whole():
    stream = Chunks([b"hello ", b"world\n"])
    assert read_capped(stream, 100) == ("hello world\n", False)
    assert stream.closed


def test_a_log_over_the_limit_stops_reading_there():
    stream = Chunks([b"x" * 60, b"y" * 60] + [b"z" * 60] * 1000)
    text, truncated = read_capped(stream, 100)
    assert truncated and text == "x" * 60 + "y" * 40
    assert stream.read == 2 and stream.closed            # the other 1000 chunks were never read


def test_exactly_the_limit_is_not_truncated():
    assert read_capped(Chunks([b"a" * 50, b"b" * 50]), 100) == ("a" * 50 + "b" * 50, False)


def test_a_character_cut_by_the_limit_is_left_out_and_one_cut_by_chunks_is_kept():
    assert read_capped(Chunks(["é".encode() * 3]), 5) == ("éé", True)     # 6 bytes, cut at 5
    data = "aé".encode()
    assert read_capped(Chunks([data[:2], data[2:]]), 100) == ("aé", False)
    assert read_capped(Chunks([b"\xff ok"]), 100) == ("\ufffd ok", False)


def test_the_log_file_on_disk_is_capped_from_max_log_length():
    assert log_file_bytes(1_000_000) == 10_000_000
    assert log_file_bytes(1000) == 1 << 20


class Followed:
    """What a LogReader leaves behind once it has ended."""

    def __init__(self, text: str, truncated: bool):
        self.text, self.truncated, self.error = text, truncated, None

    def join(self, timeout=None):
        pass

    def is_alive(self):
        return False


class Exited:
    def __init__(self, log: bytes):
        self.log = log

    def logs(self, **kw):
        assert kw["follow"] is False
        return Chunks([self.log])


def test_a_follow_stream_that_ended_early_is_completed_from_the_end_read():
    from actors.runtime.docker import DockerRuntime
    runtime = object.__new__(DockerRuntime)          # no engine needed for this decision
    whole = b"line\n" * 100
    assert runtime.logs(Exited(whole), 1000, Followed("line\n" * 3, False)) == (whole.decode(), False)
    assert runtime.logs(Exited(whole), 100, Followed("x" * 100, True)) == ("x" * 100, True)
    assert runtime.logs(Exited(whole), 1000, None) == (whole.decode(), False)
