"""abaco-logstream's decisions, on an in-memory double of the few Redis calls it makes.

The server runs for real on a loopback port inside the test's event loop; only Redis is
replaced (tests/integration/test_livelogs.py runs it against the real one).
"""

from __future__ import annotations

import asyncio
import json

from actors import auth, livelog, logtickets
from actors.services.logstream import LogStream
from actors.store.redis import blob_key, document_key


class FakeRedis:
    """Streams, documents and blobs shared by every client made from one instance."""

    def __init__(self):
        self.streams: dict[str, list[tuple[bytes, dict]]] = {}
        self.values: dict[str, bytes] = {}
        self.seq = 0
        self.changed = asyncio.Condition()

    def client(self) -> "FakeRedis":
        return self

    async def add(self, key: str, fields: dict) -> str:
        self.seq += 1
        entry_id = f"{self.seq}-0"
        self.streams.setdefault(key, []).append((entry_id.encode(), fields))
        async with self.changed:
            self.changed.notify_all()
        return entry_id

    @staticmethod
    def _after(entry_id: bytes, low: str) -> bool:
        return low == "-" or livelog.id_after(entry_id.decode(), low.lstrip("("))

    async def xrange(self, key, low, high, count=None):
        return [e for e in self.streams.get(key, []) if self._after(e[0], low)][:count]

    async def xrevrange(self, key, high, low, count=None):
        return list(reversed(self.streams.get(key, [])))[:count]

    async def xread(self, streams: dict, block=None, count=None):
        (key, last), = streams.items()
        async with self.changed:
            try:
                await asyncio.wait_for(self.changed.wait_for(
                    lambda: any(livelog.id_after(e[0].decode(), last) for e in self.streams.get(key, []))),
                    (block or 0) / 1000)
            except asyncio.TimeoutError:
                return []
        return [[key.encode(), [e for e in self.streams[key] if livelog.id_after(e[0].decode(), last)][:count]]]

    async def get(self, key):
        return self.values.get(key)

    async def exists(self, key):
        return int(key in self.streams)

    async def xlen(self, key):
        return len(self.streams.get(key, []))

    async def aclose(self):
        return None


def text(value: str) -> dict:
    return {livelog.TEXT: value.encode()}


async def _read_stream(port: int, path: str, headers: dict | None = None, stop_after: int | None = None):
    """The events of one follow request; with ``stop_after``, hang up after that many events."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    parser, events, body = livelog.SseParser(), [], b""
    while True:
        data = await asyncio.wait_for(reader.read(65536), 10)
        if not data:
            break
        body += data
        while b"\r\n" in body:                       # undo the chunked framing
            size_line, rest = body.split(b"\r\n", 1)
            size = int(size_line, 16)
            if len(rest) < size + 2:
                break
            events += parser.feed(rest[:size])
            body = rest[size + 2:]
        if stop_after is not None and len(events) >= stop_after:
            break
    writer.close()
    return head, events


def run(config, scenario):
    """Run ``scenario(server, fake, port, url_of)`` against a logstream on a free loopback port."""
    config = config.replace(logstream={"heartbeat": 0.2})
    fake = FakeRedis()

    async def main():
        server = LogStream(config, connect=fake.client)
        listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        who = auth.Identity(user="alice", role="user")

        def url_of(eid: str, query: str = "") -> str:
            return f"/actors/A/executions/{eid}/logs?follow=true&ticket={logtickets.issue(config, who, 'A', eid)}{query}"
        try:
            return await asyncio.wait_for(scenario(server, fake, port, url_of), 30)
        finally:
            listener.close()
    return asyncio.run(main())


def key_of(config, eid: str) -> str:
    return livelog.stream_key(config.general.instance, eid)


def record(config, fake, eid: str, status: str, exit_code=None) -> None:
    fake.values[document_key(config.general.instance, "executions", eid)] = json.dumps(
        {"id": eid, "status": status, "exit_code": exit_code}).encode()


def test_text_so_far_then_new_chunks_then_the_end(config):
    async def scenario(server, fake, port, url_of):
        key = key_of(config, "E")
        record(config, fake, "E", "RUNNING")
        await fake.add(key, text("one\n"))
        follower = asyncio.create_task(_read_stream(port, url_of("E")))
        await asyncio.sleep(0.3)
        await fake.add(key, text("two\n"))
        await fake.add(key, text("three\n"))
        await asyncio.sleep(0.1)
        await fake.add(key, {livelog.END: json.dumps({"status": "COMPLETE", "exitCode": 0}).encode()})
        head, events = await follower
        assert head.startswith(b"HTTP/1.1 200") and b"text/event-stream" in head
        assert "".join(e[2] for e in events if e[1] is None) == "one\ntwo\nthree\n"
        assert events[-1][1:] == ("end", '{"status": "COMPLETE", "exitCode": 0}')
        # the follower and the execution's reader are gone once the stream ended
        await asyncio.sleep(0.05)
        assert not server.hubs and not server.cap.held
        # resuming after the first event gives the rest once; tail gives the last line
        _, resumed = await _read_stream(port, url_of("E"), {"Last-Event-ID": events[0][0]})
        assert "".join(e[2] for e in resumed if e[1] is None) == "two\nthree\n"
        _, tailed = await _read_stream(port, url_of("E", "&tail=1"))
        assert "".join(e[2] for e in tailed if e[1] is None) == "three\n"
    run(config, scenario)


def test_a_worker_that_died_before_the_end_entry_still_ends_the_stream(config):
    async def scenario(server, fake, port, url_of):
        record(config, fake, "E", "RUNNING")
        await fake.add(key_of(config, "E"), text("half\n"))
        follower = asyncio.create_task(_read_stream(port, url_of("E")))
        await asyncio.sleep(0.5)                          # heartbeats meanwhile
        record(config, fake, "E", "ERROR")                # health recorded the death
        _, events = await follower
        assert [e[1] for e in events] == [None, "end"] and events[0][2] == "half\n"
        assert json.loads(events[-1][2]) == {"status": "ERROR", "exitCode": None}
    run(config, scenario)


def test_an_execution_without_a_live_log_answers_its_stored_log(config):
    async def scenario(server, fake, port, url_of):
        record(config, fake, "OLD", "COMPLETE", 0)
        fake.values[blob_key(config.general.instance, "logs", "OLD")] = b"from before\n"
        _, events = await _read_stream(port, url_of("OLD"))
        assert events[0][2] == "from before\n" and json.loads(events[-1][2]) == {"status": "COMPLETE", "exitCode": 0}
    run(config, scenario)


def test_a_follower_that_hangs_up_releases_its_place(config):
    async def scenario(server, fake, port, url_of):
        key = key_of(config, "E")
        record(config, fake, "E", "RUNNING")
        await fake.add(key, text("x\n"))
        await _read_stream(port, url_of("E"), stop_after=1)
        for _ in range(50):
            if not server.hubs and not server.cap.held:
                break
            await asyncio.sleep(0.02)
        assert not server.hubs and not server.cap.held and not server.followers
    run(config, scenario)


def test_refusals_come_in_the_json_envelope(config):
    async def scenario(server, fake, port, url_of):
        answers = {}
        for name, path in (("other execution", url_of("E").replace("/E/", "/F/")),
                           ("no ticket", "/actors/A/executions/E/logs?follow=true"),
                           ("bad position", url_of("E")), ("nothing here", "/elsewhere")):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            extra = "Last-Event-ID: nope\r\n" if name == "bad position" else ""
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())
            raw = await reader.read()
            writer.close()
            head, body = raw.split(b"\r\n\r\n", 1)
            answers[name] = (int(head.split()[1]), json.loads(body)["status"])
        assert answers == {"other execution": (403, "error"), "no ticket": (401, "error"),
                           "bad position": (400, "error"), "nothing here": (404, "error")}
    run(config, scenario)
