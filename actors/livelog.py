"""Live logs: a running execution's output, as it comes, in a Redis stream of its own.

The worker's log reader hands every piece of text it keeps (the same pieces that make
the stored log, so never more than ``[workers] max_log_length`` bytes) to a
:class:`Publisher`. The publisher buffers them and appends the buffer as one stream
entry within ``[logstream] flush_interval`` seconds (at once after a quiet spell). Once the execution's
terminal record is written it appends whatever the final log holds past what was
streamed, then an end entry carrying the status and exit code. So the text of the
stream's entries, concatenated, is the stored log, and the end entry comes after the
record that it summarises.

Guarantees: a live log is best effort. A Redis failure never reaches the execution: the
text waits in the buffer (bounded by the log cap) and goes with the next flush that
succeeds; the stored log stays the authority. The stream expires with the log
(``log_expiry``), or ``[logstream] keep_after_end`` seconds after the end entry if that is
sooner (followers then get the stored log), and holds at most ``[logstream] max_chunks``
entries (older ones are trimmed first; followers then start at the oldest kept).

Entry ids are Redis stream ids (``<ms>-<seq>``): they are the events' ``id:`` in the
server-sent events of actors/services/logstream.py, so ``Last-Event-ID`` resumes there.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from typing import Any, Protocol

log = logging.getLogger(__name__)

TEXT = b"t"       # an entry of output text
END = b"end"      # the last entry: {"status": ..., "exitCode": ...}
START_ID = "0-0"
ENTRY_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


def stream_key(instance: str, execution_id: str) -> str:
    """The Redis key of an execution's live log."""
    return f"{instance}:livelog:{execution_id}"


def valid_id(value: str) -> bool:
    """A stream position a client may resume from (``<ms>-<seq>``)."""
    return bool(ENTRY_ID.match(value))


def id_after(a: str, b: str) -> bool:
    """Stream id ``a`` comes after ``b``."""
    am, _, aseq = a.partition("-")
    bm, _, bseq = b.partition("-")
    return (int(am), int(aseq)) > (int(bm), int(bseq))


def end_payload(status: str, exit_code: int | None) -> dict:
    return {"status": status, "exitCode": exit_code}


def decode_entry(fields: dict) -> tuple[str, Any]:
    """``("text", str)`` or ``("end", dict)`` for one stream entry's fields."""
    norm = {(k.encode() if isinstance(k, str) else k): v for k, v in fields.items()}
    if END in norm:
        raw = norm[END]
        return "end", json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    raw = norm.get(TEXT, b"")
    return "text", raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)


def decode_entries(entries: Any) -> list[tuple[str, str, Any]]:
    """``(id, kind, value)`` for entries as XRANGE or XREAD give them (see ``decode_entry``)."""
    out = []
    for entry_id, fields in entries or []:
        kind, value = decode_entry(fields)
        out.append((entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id), kind, value))
    return out


class Sink(Protocol):
    """Where a publisher writes (Redis in production, memory in unit tests)."""

    def append(self, key: str, fields: dict[bytes, bytes], max_chunks: int, ttl: int) -> str: ...


class RedisSink:
    """XADD to a stream with a bound and an expiry; short timeouts and no retries, so a
    Redis outage costs the worker's flusher thread little and the execution nothing."""

    def __init__(self, client):
        self.client = client

    def append(self, key: str, fields: dict[bytes, bytes], max_chunks: int, ttl: int) -> str:
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(key, fields, maxlen=max_chunks or None, approximate=True)
        if ttl:
            pipe.expire(key, ttl)
        entry_id = pipe.execute()[0]
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    def close(self) -> None:
        self.client.close()


def redis_sink(config) -> RedisSink | None:
    """A sink on the configured Redis, or None when the store is not Redis."""
    if config.store.backend != "redis":
        return None
    import redis
    return RedisSink(redis.Redis(host=config.store.redis_host, port=config.store.redis_port,
                                 db=config.store.redis_db, password=config.store.redis_password or None,
                                 socket_timeout=2, socket_connect_timeout=1, retry_on_timeout=False))


class Publisher:
    """One execution's live log, written from the worker (thread-safe ``write``).

    ``write`` only appends to a buffer and wakes a flusher thread, which sends the buffer as
    one entry: at once after a quiet spell, else ``interval`` seconds after the previous entry
    (sooner past ``flush_bytes``), so a line waits at most ``interval`` and a flood makes at most
    one entry per ``interval``. ``finish`` sends the rest of the
    final log and ``end`` the end entry; ``close`` stops the thread.
    """

    def __init__(self, sink: Sink, key: str, ttl: int, max_chunks: int, interval: float = 0.1,
                 flush_bytes: int = 65536, keep_after_end: int = 0):
        self.sink, self.key, self.ttl, self.max_chunks = sink, key, ttl, max_chunks
        self.keep_after_end = keep_after_end
        self.interval, self.flush_bytes = interval, flush_bytes
        self.sent = ""                  # text that reached the stream
        self.failures = 0
        self._final: str | None = None  # the stored log, once known and not yet reconciled
        self._finished = False          # past ``finish``: a late piece from the reader is ignored
        self._pending: list[str] = []
        self._pending_len = 0
        self._lock = threading.Lock()          # guards the buffer
        self._send_lock = threading.Lock()     # one flush at a time, so entries keep their order
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"livelog-{key}")
        self._thread.start()

    def write(self, text: str) -> None:
        if not text or self._finished:
            return
        with self._lock:
            self._pending.append(text)
            self._pending_len += len(text)
        self._wake.set()

    def _run(self) -> None:
        """Send soon after a write, but at most one entry per ``interval`` (unless past ``flush_bytes``)."""
        last = 0.0
        while not self._closed.is_set():
            self._wake.wait(self.interval)
            gap = last + self.interval - time.monotonic()
            if gap > 0 and self._pending_len < self.flush_bytes:
                self._closed.wait(gap)
            self._wake.clear()
            self.flush()
            last = time.monotonic()

    def flush(self) -> bool:
        """Send what is buffered as one entry; False (the text kept for later) if Redis failed."""
        with self._send_lock:
            with self._lock:
                text = "".join(self._pending)
                self._pending, self._pending_len = [text] if text else [], len(text)
            if not text:
                return True
            if not self._send({TEXT: text.encode("utf-8")}):
                return False
            with self._lock:
                # what was written meanwhile stays, after the part just sent
                rest = "".join(self._pending)[len(text):]
                self._pending, self._pending_len = [rest] if rest else [], len(rest)
            self.sent += text
            return True

    def _send(self, fields: dict[bytes, bytes], ttl: int | None = None) -> bool:
        try:
            self.sink.append(self.key, fields, self.max_chunks, self.ttl if ttl is None else ttl)
            return True
        except Exception as exc:       # best effort: the stored log is the authority
            self.failures += 1
            if self.failures == 1 or self.failures % 100 == 0:
                log.warning("live log %s: could not write (%d failure(s)): %s", self.key, self.failures, exc)
            return False

    def finish(self, final_text: str) -> None:
        """Stop taking text and send what the final log holds past what was streamed."""
        self._final, self._finished = final_text, True
        self._closed.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._reconcile()

    def _reconcile(self) -> None:
        if self._final is None or not self.flush():
            return                     # tried again by ``end``
        if self._final.startswith(self.sent):
            rest = self._final[len(self.sent):]
            if rest and not self._send({TEXT: rest.encode("utf-8")}):
                return
            self.sent += rest
        else:                          # not expected: the reader and the final read disagree
            log.warning("live log %s: the final log does not continue what was streamed", self.key)
        self._final = None

    def end(self, status: str, exit_code: int | None) -> None:
        """The end entry, after the terminal record (followers stop on it)."""
        self._closed.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._reconcile()
        self.flush()
        keep = min(self.ttl, self.keep_after_end) if self.ttl and self.keep_after_end else \
            (self.ttl or self.keep_after_end)
        self._send({END: json.dumps(end_payload(status, exit_code)).encode()}, keep)

    def close(self) -> None:
        """Stop the flusher (what is buffered is sent once more) and let the sink go."""
        self._closed.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self.flush()
        close = getattr(self.sink, "close", None)
        if close is not None:
            close()


def open_publisher(config, execution_id: str, ttl: int) -> Publisher | None:
    """The live log of one execution on the configured store; None when it has none."""
    sink = redis_sink(config)
    if sink is None:
        return None
    ls = config.logstream
    return Publisher(sink, stream_key(config.general.instance, execution_id), ttl, ls.max_chunks,
                     interval=ls.flush_interval, keep_after_end=ls.keep_after_end)


# ------------------------------------------------------------------ server-sent events

def sse_event(data: str, event_id: str | None = None, event: str | None = None) -> bytes:
    """One server-sent event: ``id:``, ``event:``, a ``data:`` line per line of ``data``.

    A receiver joins the data lines with a newline, so a chunk's text arrives unchanged
    (except a carriage return, which SSE reads as a line break)."""
    out = []
    if event_id is not None:
        out.append(f"id: {event_id}\n")
    if event is not None:
        out.append(f"event: {event}\n")
    for line in data.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        out.append(f"data: {line}\n")
    out.append("\n")
    return "".join(out).encode("utf-8")


HEARTBEAT = b": keep-alive\n\n"


def tail_lines(text: str, lines: int) -> str:
    """The last ``lines`` lines of ``text`` (a last line without its newline counts)."""
    if lines <= 0:
        return ""
    parts = text.splitlines(keepends=True)
    return "".join(parts[-lines:])


class SseParser:
    """Reads server-sent events from chunks of bytes (the CLI and the tests use it)."""

    def __init__(self):
        self._buf = b""
        self._id: str | None = None
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[tuple[str | None, str | None, str]]:
        """The events completed by ``chunk``: (id, event or None, data); comments are skipped."""
        self._buf += chunk
        events = []
        while b"\n" in self._buf:
            raw, self._buf = self._buf.split(b"\n", 1)
            line = raw.decode("utf-8", errors="replace").rstrip("\r")
            if line == "":
                if self._data or self._event is not None:
                    events.append((self._id, self._event, "\n".join(self._data)))
                self._event, self._data = None, []
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                self._data.append(value)
            elif name == "id":
                self._id = value
            elif name == "event":
                self._event = value
        return events
