"""Live logs without services: the worker's publisher, the event format, tickets, the follower cap."""

from __future__ import annotations

import json
import threading
import time

import pytest

from actors import auth, livelog, logtickets
from actors.api import create_app
from actors.errors import ForbiddenError, TooManyRequestsError, UnauthorizedError
from actors.runtime.docker import read_capped
from actors.services.logstream import FollowerCap, chunk, error_response, parse_head
from actors.store.memory import memory_stores
from actors.store.redis import RedisBackend, blob_key, document_key
from actors.stub_broker import StubBroker


class MemorySink:
    """A stream in memory; ``down`` makes every append fail as an unreachable Redis would."""

    def __init__(self):
        self.entries: list[tuple[str, dict]] = []
        self.ttls: list[int] = []
        self.down = False
        self.lock = threading.Lock()

    def append(self, key, fields, max_chunks, ttl):
        if self.down:
            raise ConnectionError("Redis is down")
        with self.lock:
            entry_id = f"{len(self.entries) + 1}-0"
            self.entries.append((entry_id, dict(fields)))
            self.ttls.append(ttl)
        return entry_id

    def texts(self) -> str:
        return "".join(v for _, kind, v in livelog.decode_entries(self.entries) if kind == "text")

    def ends(self) -> list[dict]:
        return [v for _, kind, v in livelog.decode_entries(self.entries) if kind == "end"]


def test_the_pieces_a_reader_hands_over_are_the_text_it_keeps():
    pieces: list[str] = []
    data = "aé\nb".encode()
    text, truncated = read_capped(iter([data[:2], data[2:], b"\nmore\n"]), 100, pieces.append)
    assert (text, truncated) == ("aé\nb\nmore\n", False) and "".join(pieces) == text
    pieces.clear()
    text, truncated = read_capped(iter([b"x" * 60, b"y" * 60]), 100, pieces.append)
    assert truncated and len(text) == 100 and "".join(pieces) == text     # the cap holds for the live log too


def test_a_publisher_flushes_on_its_interval_and_ends_after_the_rest():
    sink = MemorySink()
    pub = livelog.Publisher(sink, "k", ttl=60, max_chunks=100, interval=0.05, keep_after_end=10)
    pub.write("line-1\n")
    deadline = time.monotonic() + 5
    while not sink.entries and time.monotonic() < deadline:      # the flusher sends it without being asked
        time.sleep(0.01)
    assert sink.texts() == "line-1\n"
    pub.write("line-2\n")
    pub.finish("line-1\nline-2\nline-3\n")     # the final read had a line the follow stream missed
    pub.end("COMPLETE", 3)
    pub.close()
    assert sink.texts() == "line-1\nline-2\nline-3\n"
    assert sink.ends() == [{"status": "COMPLETE", "exitCode": 3}]
    assert livelog.decode_entries(sink.entries)[-1][1] == "end"     # the end comes last
    assert sink.ttls[:-1] == [60] * (len(sink.ttls) - 1) and sink.ttls[-1] == 10   # kept a while after the end


def test_a_redis_outage_keeps_the_text_for_the_next_flush_and_never_raises():
    sink = MemorySink()
    pub = livelog.Publisher(sink, "k", ttl=60, max_chunks=100, interval=3600)
    sink.down = True
    pub.write("a\n")
    assert pub.flush() is False
    pub.write("b\n")
    pub.end("ERROR", None)          # still down: nothing raised, nothing half-written
    assert sink.entries == [] and pub.failures >= 2
    sink.down = False
    pub.write("c\n")
    assert pub.flush() is True
    assert sink.texts() == "a\nb\nc\n"                # no gap, no repeat
    pub.close()


def test_concurrent_writes_reach_the_stream_once_in_order():
    sink = MemorySink()
    pub = livelog.Publisher(sink, "k", ttl=0, max_chunks=0, interval=0.001, flush_bytes=64)
    lines = [f"line-{i}\n" for i in range(3000)]
    for line in lines:
        pub.write(line)
    pub.finish("".join(lines))
    pub.close()
    assert sink.texts() == "".join(lines)


def test_events_round_trip_through_the_parser():
    parser = livelog.SseParser()
    wire = livelog.sse_event("one\ntwo\n", "5-0") + livelog.HEARTBEAT + \
        livelog.sse_event(json.dumps({"status": "COMPLETE", "exitCode": 0}), "6-0", event="end")
    events = []
    for i in range(0, len(wire), 7):             # arriving in odd pieces
        events += parser.feed(wire[i:i + 7])
    assert events == [("5-0", None, "one\ntwo\n"), ("6-0", "end", '{"status": "COMPLETE", "exitCode": 0}')]
    assert livelog.sse_event("x", "1-0").startswith(b"id: 1-0\ndata: x\n")


def test_tail_and_positions():
    assert livelog.tail_lines("a\nb\nc\n", 2) == "b\nc\n"
    assert livelog.tail_lines("a\nb\nc", 1) == "c"
    assert livelog.tail_lines("a\n", 0) == ""
    assert livelog.valid_id("1700000000000-3") and not livelog.valid_id("1-") and not livelog.valid_id("$")
    assert livelog.id_after("10-0", "9-5") and livelog.id_after("9-6", "9-5") and not livelog.id_after("9-5", "9-5")


def test_logstream_reads_the_keys_the_stores_write(config):
    backend = RedisBackend(config)          # no connection is made
    execs = backend.store("executions")
    assert execs._doc("e1") == document_key(config.general.instance, "executions", "e1")
    assert f"{backend.blobs('logs').base}:e1" == blob_key(config.general.instance, "logs", "e1")


# ------------------------------------------------------------------ tickets

def test_a_ticket_grants_its_own_execution_only(config):
    who = auth.Identity(user="alice", role="user", tenant="t1")
    ticket = logtickets.issue(config, who, "A", "E1")
    grant = logtickets.Verifier(config).verify(ticket, "A", "E1")
    assert (grant.tenant, grant.user, grant.execution_id) == ("t1", "alice", "E1")
    with pytest.raises(ForbiddenError):                       # the attack: the same ticket for another one
        logtickets.Verifier(config).verify(ticket, "A", "E2")
    with pytest.raises(ForbiddenError):
        logtickets.Verifier(config).verify(ticket, "B", "E1")


def test_an_expired_or_forged_ticket_is_refused(config):
    who = auth.Identity(user="alice", role="user")
    verifier = logtickets.Verifier(config)
    with pytest.raises(UnauthorizedError, match="expired"):
        verifier.verify(logtickets.issue(config, who, "A", "E", ttl=-5), "A", "E")
    with pytest.raises(UnauthorizedError):                    # a plain token is no ticket
        verifier.verify(auth.issue_token(config, "alice"), "A", "E")
    with pytest.raises(UnauthorizedError):
        verifier.verify("", "A", "E")
    with pytest.raises(UnauthorizedError):
        verifier.verify(logtickets.issue(config, who, "A", "E")[:-4] + "AAAA", "A", "E")


def test_a_ticket_is_no_token_for_the_api(config):
    ticket = logtickets.issue(config, auth.Identity(user="alice", role="admin"), "A", "E")
    with pytest.raises(UnauthorizedError):
        auth.Authenticator(config).identify({"Authorization": f"Bearer {ticket}"})


# ------------------------------------------------------------------ the API's redirect

@pytest.fixture
def api(config):
    stores = memory_stores()
    app = create_app(config, stores, StubBroker())
    http = app.test_client()
    headers = {"Authorization": f"Bearer {auth.issue_token(config, 'alice')}"}
    actor = http.post("/actors", json={"image": "abaco/echo:local"}, headers=headers).get_json()["result"]
    eid = http.post(f"/actors/{actor['id']}/messages", data={"message": "hi"}, headers=headers
                    ).get_json()["result"]["execution_id"]
    return http, headers, actor["id"], eid


def test_follow_redirects_with_a_ticket_for_that_execution(api, config):
    http, headers, aid, eid = api
    resp = http.get(f"/actors/{aid}/executions/{eid}/logs?follow=true&tail=5",
                    headers=dict(headers, **{"Last-Event-ID": "17-2"}))
    assert resp.status_code == 307
    location = resp.headers["Location"]
    assert location.startswith(f"http://localhost:{config.logstream.port}/actors/{aid}/executions/{eid}/logs?")
    assert "tail=5" in location and "last_event_id=17-2" in location
    ticket = location.split("ticket=")[1].split("&")[0]
    assert logtickets.Verifier(config).verify(ticket, aid, eid).user == "alice"
    assert http.get(f"/actors/{aid}/executions/{eid}/logs", headers=headers).get_json()["result"]["logs"] == ""


def test_follow_refuses_bad_input_and_strangers(api, config):
    http, headers, aid, eid = api
    for query, header in (("follow=maybe", {}), ("follow=true&tail=-1", {}), ("follow=true&tail=x", {}),
                          ("follow=true", {"Last-Event-ID": "$"})):
        resp = http.get(f"/actors/{aid}/executions/{eid}/logs?{query}", headers=dict(headers, **header))
        assert resp.status_code == 400 and resp.get_json()["status"] == "error", query
    bob = {"Authorization": f"Bearer {auth.issue_token(config, 'bob')}"}
    plain = http.get(f"/actors/{aid}/executions/{eid}/logs", headers=bob)
    follow = http.get(f"/actors/{aid}/executions/{eid}/logs?follow=true", headers=bob)
    assert follow.status_code == plain.status_code >= 400 and "Location" not in follow.headers
    other = {"Authorization": f"Bearer {auth.issue_token(config, 'alice', tenant='other')}"}
    assert http.get(f"/actors/{aid}/executions/{eid}/logs?follow=true", headers=other).status_code == \
        http.get(f"/actors/{aid}/executions/{eid}/logs", headers=other).status_code >= 400
    assert http.get(f"/actors/{aid}/executions/{eid}/logs?follow=true").status_code in (400, 401)


# ------------------------------------------------------------------ the serving process's small parts

def test_the_follower_cap_counts_per_user():
    cap = FollowerCap(2)
    cap.acquire("t", "alice")
    cap.acquire("t", "alice")
    cap.acquire("t", "bob")
    cap.acquire("u", "alice")                    # another tenant's alice is someone else
    with pytest.raises(TooManyRequestsError):
        cap.acquire("t", "alice")
    cap.release("t", "alice")
    cap.acquire("t", "alice")
    for _ in range(2):
        cap.release("t", "alice")
    assert ("t", "alice") not in cap.held


def test_request_heads_and_error_answers():
    method, target, headers = parse_head(b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 1-0\r\n\r\n")
    assert (method, target, headers["last-event-id"]) == ("GET", "/a?b=1", "1-0")
    for bad in (b"GET /a\r\n\r\n", b"GET /a HTTP/2\r\n\r\n", b"GET /a HTTP/1.1\r\nnocolon\r\n\r\n"):
        with pytest.raises(Exception) as info:
            parse_head(bad)
        assert getattr(info.value, "status", None) == 400
    answer = error_response(TooManyRequestsError("too many"))
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 429 ") and json.loads(body)["message"] == "too many"
    assert chunk(b"abc") == b"3\r\nabc\r\n" and chunk(b"") == b"0\r\n\r\n"


def test_the_final_log_reaches_the_stream_even_if_redis_was_down_at_the_finish():
    sink = MemorySink()
    pub = livelog.Publisher(sink, "k", ttl=60, max_chunks=100, interval=3600)
    pub.write("a\n")
    sink.down = True
    pub.finish("a\nb\n")
    pub.write("late piece the final log has not got\n")     # the reader, after the final read: ignored
    sink.down = False
    pub.end("COMPLETE", 0)
    pub.close()
    assert sink.texts() == "a\nb\n" and sink.ends() == [{"status": "COMPLETE", "exitCode": 0}]
