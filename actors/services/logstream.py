"""The logstream process: live logs as server-sent events, for many idle followers.

``GET /actors/{id}/executions/{eid}/logs?follow=true&ticket=...`` (the API redirects
there, having checked the caller as for plain logs: actors/logtickets.py) answers
``text/event-stream``: the text so far, then each new chunk, as events whose ``id:`` is a
position in the execution's live log (actors/livelog.py), then ``event: end`` with
``{"status": ..., "exitCode": ...}``. ``Last-Event-ID`` (or ``last_event_id``) resumes
after that position, with no gap and no repeat; ``tail=N`` starts N lines back. An idle
stream gets a comment line every ``[logstream] heartbeat`` seconds.

One asyncio loop, no thread per follower. One Redis connection per followed execution
(a :class:`Hub` blocks on XREAD and hands each new entry to that execution's followers)
plus one shared for quick reads; both go when their last follower leaves, and a follower
that hangs up is noticed at once (its socket reads EOF), so its socket, queue and task go too.
A user holds at most ``[logstream] max_followers_per_user`` streams at once (429 beyond).
An execution whose worker died before writing the end entry still ends: at each heartbeat
the follower reads the execution's record and, once it is terminal, ends with its status.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import sys
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import redis.asyncio as aioredis

from actors import __version__, livelog, logtickets
from actors.codes import EXECUTION_TERMINAL
from actors.config import Config
from actors.errors import AbacoError, BadRequestError, MethodNotAllowedError, NotFoundError, TooManyRequestsError
from actors.services import command_line, start
from actors.store.redis import blob_key, document_key

log = logging.getLogger("logstream")

ROUTE = re.compile(r"^/actors/([^/]+)/executions/([^/]+)/logs$")
MAX_HEAD = 16384                 # bytes of request line and headers
HEAD_TIMEOUT = 10.0              # seconds a client has to send them
HUB_BLOCK_MS = 5000              # one XREAD waits this long at most
MAX_QUEUED = 10000               # entries waiting for one slow follower before it is dropped
BATCH = 1000                     # entries per read
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 429: "Too Many Requests", 503: "Service Unavailable"}


def error_response(exc: AbacoError, compat: str = "http") -> bytes:
    """An error in the API's JSON envelope, as a whole HTTP/1.1 response."""
    status = exc.status_for(compat)
    body = json.dumps({"status": "error", "message": exc.message, "result": None, "version": __version__}).encode()
    head = (f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n")
    return head.encode() + body


# Chunked, so that every client library hands each event over as it comes.
SSE_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-store\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\nX-Accel-Buffering: no\r\n\r\n")


def chunk(data: bytes) -> bytes:
    """One piece of a chunked body (an empty one ends the body)."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def parse_head(raw: bytes) -> tuple[str, str, dict[str, str]]:
    """Method, target and headers (names lower-cased) of an HTTP/1.x request head."""
    try:
        lines = raw.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise BadRequestError("malformed request line") from None
    if not version.startswith("HTTP/1."):
        raise BadRequestError("only HTTP/1.x is spoken here")
    headers = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequestError("malformed header line")
        headers[name.strip().lower()] = value.strip()
    return method, target, headers


class FollowerCap:
    """Open streams per user; ``acquire`` raises 429 past the limit."""

    def __init__(self, limit: int):
        self.limit = limit
        self.held: dict[tuple[str, str], int] = {}

    def acquire(self, tenant: str, user: str) -> None:
        key = (tenant, user)
        if self.held.get(key, 0) >= self.limit:
            raise TooManyRequestsError(f"{user} already follows {self.limit} live log(s) at once, the most "
                                       f"[logstream] max_followers_per_user allows; close one first")
        self.held[key] = self.held.get(key, 0) + 1

    def release(self, tenant: str, user: str) -> None:
        key = (tenant, user)
        left = self.held.get(key, 0) - 1
        if left > 0:
            self.held[key] = left
        else:
            self.held.pop(key, None)


class Hub:
    """Reads one execution's new entries (XREAD BLOCK) and hands them to its followers' queues."""

    def __init__(self, server: "LogStream", key: str):
        self.server, self.key = server, key
        self.queues: set[asyncio.Queue] = set()
        self.ready = asyncio.Event()       # the start position is known
        self.task = asyncio.create_task(self.run(), name=f"hub-{key}")

    async def run(self) -> None:
        client = self.server.connect()
        try:
            last = await self._start_position(client)
            self.ready.set()
            while True:
                try:
                    reply = await client.xread({self.key: last}, block=HUB_BLOCK_MS, count=BATCH)
                except (aioredis.ConnectionError, aioredis.TimeoutError) as exc:
                    log.warning("live log %s: Redis: %s; trying again", self.key, exc)
                    await asyncio.sleep(1)
                    continue
                streams: Any = reply or []
                for _key, entries in streams:
                    for entry in livelog.decode_entries(entries):
                        last = entry[0]
                        for queue in list(self.queues):
                            queue.put_nowait(entry)
        finally:
            self.ready.set()
            await client.aclose()

    async def _start_position(self, client) -> str:
        while True:
            try:
                newest = livelog.decode_entries(await client.xrevrange(self.key, "+", "-", count=1))
                return newest[0][0] if newest else livelog.START_ID
            except (aioredis.ConnectionError, aioredis.TimeoutError) as exc:
                log.warning("live log %s: Redis: %s; trying again", self.key, exc)
                await asyncio.sleep(1)


class LogStream:
    """The server: one instance per process."""

    def __init__(self, config: Config, connect: Callable[[], Any] | None = None):
        self.config = config
        self.verifier = logtickets.Verifier(config)
        self.cap = FollowerCap(config.logstream.max_followers_per_user)
        self.hubs: dict[str, Hub] = {}
        self.followers: set[asyncio.Task] = set()
        self.connect = connect or self.connect_redis   # a Redis client (one connection) each call
        self.quick = self.connect()          # one connection shared by the quick reads

    def connect_redis(self) -> aioredis.Redis:
        s = self.config.store
        return aioredis.Redis(host=s.redis_host, port=s.redis_port, db=s.redis_db,
                              password=s.redis_password or None, single_connection_client=True,
                              socket_connect_timeout=5, socket_timeout=HUB_BLOCK_MS / 1000 + 10)

    # ------------------------------------------------------------ HTTP

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.followers.add(task)
        try:
            await self._handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("unexpected failure while serving a follower")
        finally:
            if task is not None:
                self.followers.discard(task)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, asyncio.CancelledError):
                pass

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
        except (asyncio.LimitOverrunError, ValueError):
            writer.write(error_response(BadRequestError(f"the request head is longer than {MAX_HEAD} bytes")))
            return
        except (asyncio.TimeoutError, asyncio.IncompleteReadError):
            return
        try:
            method, target, headers = parse_head(raw)
            url = urlsplit(target)
            if url.path == "/healthz":
                body = b'{"status":"success","message":"logstream is up","result":null}'
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body) + body)
                return
            match = ROUTE.match(url.path)
            if match is None:
                raise NotFoundError(f"nothing is served at {url.path}; live logs are at "
                                    "/actors/{id}/executions/{eid}/logs?follow=true")
            if method != "GET":
                raise MethodNotAllowedError(f"{method} is not allowed here; use GET")
            query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            actor_id, execution_id = match.group(1), match.group(2)
            grant = self.verifier.verify(query.get("ticket", ""), actor_id, execution_id)
            start_id, tail = self._position(query, headers)
            self.cap.acquire(grant.tenant, grant.user)
        except AbacoError as exc:
            writer.write(error_response(exc))
            await writer.drain()
            return
        try:
            log.info("follow %s/%s by %s/%s from %s", actor_id, execution_id, grant.tenant, grant.user,
                     start_id if tail is None else f"{tail} line(s) back")
            writer.write(SSE_HEAD)
            await writer.drain()
            await self.follow(grant, start_id, tail, reader, writer)
            writer.write(chunk(b""))
            await writer.drain()
        finally:
            self.cap.release(grant.tenant, grant.user)

    @staticmethod
    def _position(query: dict, headers: dict) -> tuple[str, int | None]:
        start_id = headers.get("last-event-id") or query.get("last_event_id") or livelog.START_ID
        if not livelog.valid_id(start_id):
            raise BadRequestError(f"Last-Event-ID must be an event id of this stream (<ms>-<seq>); got {start_id!r}")
        tail = None
        if query.get("tail") not in (None, "") and start_id == livelog.START_ID:
            try:
                tail = int(query["tail"])
            except ValueError:
                raise BadRequestError(f"'tail' must be a whole number; got {query['tail']!r}") from None
            if not 0 <= tail <= 10**7:
                raise BadRequestError("'tail' must be between 0 and 10000000")
        return start_id, tail

    # ------------------------------------------------------------ following

    async def follow(self, grant: logtickets.Grant, start_id: str, tail: int | None,
                     reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        key = livelog.stream_key(self.config.general.instance, grant.execution_id)
        queue: asyncio.Queue = asyncio.Queue()
        hub = self.hubs.get(key)
        if hub is None or hub.task.done():
            hub = self.hubs[key] = Hub(self, key)
        hub.queues.add(queue)
        watcher = asyncio.create_task(self._watch_hangup(reader, queue))
        stream = _Stream(writer, start_id)
        try:
            while not hub.ready.is_set():          # Redis may be slow to answer: keep the client
                try:
                    await asyncio.wait_for(hub.ready.wait(), self.config.logstream.heartbeat)
                except asyncio.TimeoutError:
                    await stream.heartbeat()
            if await self._catch_up(key, stream, tail, grant):
                return
            await self._live(queue, stream, grant)
        except (aioredis.ConnectionError, aioredis.TimeoutError) as exc:
            # the client resumes from the last event it got (Last-Event-ID)
            log.warning("live log %s: Redis failed (%s); closing the stream", key, exc)
        finally:
            watcher.cancel()
            hub.queues.discard(queue)
            if not hub.queues and self.hubs.get(key) is hub:
                del self.hubs[key]
                hub.task.cancel()

    @staticmethod
    async def _watch_hangup(reader: asyncio.StreamReader, queue: asyncio.Queue) -> None:
        """A client sends nothing after its request: EOF (or an error) means it left."""
        try:
            while await reader.read(1024):
                pass
        except (ConnectionError, OSError):
            pass
        queue.put_nowait(None)

    async def _catch_up(self, key: str, stream: "_Stream", tail: int | None, grant: logtickets.Grant) -> bool:
        """The text so far (or its last ``tail`` lines); True if the execution has already ended."""
        texts: list[str] = []
        last = stream.position
        while True:
            low = "-" if last == livelog.START_ID else f"({last}"
            entries = livelog.decode_entries(await self.quick.xrange(key, low, "+", count=BATCH))
            batch: list[str] = []
            for entry, kind, value in entries:
                if kind == "end":
                    text = "".join(texts + batch)
                    await stream.text(text if tail is None else livelog.tail_lines(text, tail), last)
                    await stream.end(value, entry)
                    return True
                batch.append(value)
                last = entry
            if tail is None:
                await stream.text("".join(batch), last)
            else:
                texts += batch
            if len(entries) < BATCH:
                break
        if tail is not None:
            await stream.text(livelog.tail_lines("".join(texts), tail), last)
        return await self._ended_without_end_entry(key, stream, grant, tail)

    async def _live(self, queue: asyncio.Queue, stream: "_Stream", grant: logtickets.Grant) -> None:
        heartbeat = self.config.logstream.heartbeat
        key = livelog.stream_key(self.config.general.instance, grant.execution_id)
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), heartbeat)
            except asyncio.TimeoutError:
                await stream.heartbeat()
                if await self._ended_without_end_entry(key, stream, grant, None):
                    return
                continue
            if item is None or queue.qsize() > MAX_QUEUED:
                return
            items = [item]
            while not queue.empty():
                more = queue.get_nowait()
                if more is None:
                    return
                items.append(more)
            texts: list[str] = []
            last = stream.position
            for entry_id, kind, value in items:
                if not livelog.id_after(entry_id, last):
                    continue            # already sent by the catch-up
                if kind == "end":
                    await stream.text("".join(texts), last)
                    await stream.end(value, entry_id)
                    return
                texts.append(value)
                last = entry_id
            await stream.text("".join(texts), last)

    async def _ended_without_end_entry(self, key: str, stream: "_Stream", grant: logtickets.Grant,
                                       tail: int | None) -> bool:
        """Once the execution's record is terminal, finish from the store: the rest of the
        stream, then its end entry or, when the worker wrote none (it died, or the execution
        ended before live logs existed), an end made from the record; True when ended."""
        instance = self.config.general.instance
        raw = await self.quick.get(document_key(instance, "executions", grant.execution_id))
        record = json.loads(raw) if raw else None
        if record is not None and record.get("status") not in EXECUTION_TERMINAL:
            return False
        # The worker streams all its text before the terminal record: what is left is in the stream.
        while True:
            low = "-" if stream.position == livelog.START_ID else f"({stream.position}"
            entries = livelog.decode_entries(await self.quick.xrange(key, low, "+", count=BATCH))
            texts: list[str] = []
            last = stream.position
            for entry, kind, value in entries:
                if kind == "end":
                    await stream.text("".join(texts), last)
                    await stream.end(value, entry)
                    return True
                texts.append(value)
                last = entry
            await stream.text("".join(texts), last)
            if len(entries) < BATCH:
                break
        if stream.position == livelog.START_ID and not await self.quick.exists(key):
            stored = await self.quick.get(blob_key(instance, "logs", grant.execution_id))
            text = stored.decode("utf-8", errors="replace") if isinstance(stored, bytes) else str(stored or "")
            await stream.text(text if tail is None else livelog.tail_lines(text, tail), "0-1")
        status = record.get("status") if record else "UNKNOWN"
        await stream.end(livelog.end_payload(status, record.get("exit_code") if record else None), None)
        return True

    # ------------------------------------------------------------ process

    async def serve(self, stop: asyncio.Event) -> None:
        ls = self.config.logstream
        try:
            server = await asyncio.start_server(self.handle, ls.host, ls.port, limit=MAX_HEAD, backlog=1024)
        except OSError as exc:
            await self.quick.aclose()
            raise SystemExit(f"abaco-logstream cannot listen on {ls.host}:{ls.port} ({exc.strerror}); "
                             f"stop what holds it or set [logstream] port") from None
        log.info("serving live logs on %s:%s", ls.host, ls.port)
        async with server:
            await stop.wait()
            server.close()
            for task in list(self.followers):
                task.cancel()
            await asyncio.gather(*self.followers, return_exceptions=True)
            for hub in list(self.hubs.values()):
                hub.task.cancel()
            await asyncio.gather(*(h.task for h in self.hubs.values()), return_exceptions=True)
        await self.quick.aclose()
        log.info("stopped")


class _Stream:
    """One follower's response: events out, and the position reached."""

    def __init__(self, writer: asyncio.StreamWriter, position: str):
        self.writer, self.position = writer, position

    async def text(self, text: str, entry_id: str | None) -> None:
        """An event of ``text`` ending at ``entry_id`` (nothing is sent for no text; the position moves)."""
        if entry_id is not None:
            self.position = entry_id
        if text:
            self.writer.write(chunk(livelog.sse_event(text, entry_id)))
            await self.writer.drain()

    async def end(self, payload: dict, entry_id: str | None) -> None:
        self.writer.write(chunk(livelog.sse_event(json.dumps(payload), entry_id, event="end")))
        await self.writer.drain()

    async def heartbeat(self) -> None:
        self.writer.write(chunk(livelog.HEARTBEAT))
        await self.writer.drain()


async def _main(config: Config) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await LogStream(config).serve(stop)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = command_line("abaco-logstream", "Serve live execution logs as server-sent events.").parse_args(argv)
    config = start("logstream", args)
    return asyncio.run(_main(config))


if __name__ == "__main__":
    sys.exit(main())
