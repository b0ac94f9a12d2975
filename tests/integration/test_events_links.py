"""Events reach linked actors (one per execution, up to a depth) and webhooks; links cannot form cycles."""

from __future__ import annotations

import ast
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent      # the virtualenv's console scripts


@pytest.fixture
def hook():
    received, calls = [], {"n": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            calls["n"] += 1
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if calls["n"] == 1:
                self.send_response(503)        # the first delivery fails: it must be retried
            else:
                received.append(json.loads(body))
                self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()


def chain(platform, k: int) -> list[dict]:
    """k echo actors, each linked to the next; the head first."""
    actors = [platform.register("abaco/echo:local")]
    for _ in range(k - 1):
        actors.insert(0, platform.register("abaco/echo:local", link=actors[0]["id"]))
    return actors


def executions(platform, actor: dict) -> list[dict]:
    return [platform.execution(actor["id"], summary["id"])
            for summary in platform.ok("GET", f"/actors/{actor['id']}/executions")["executions"]]


def received(platform, actor: dict, execution: dict) -> dict:
    """The JSON message an echo execution printed."""
    logs = platform.ok("GET", f"/actors/{actor['id']}/executions/{execution['id']}/logs")["logs"]
    line = next(ln for ln in logs.splitlines() if ln.startswith("Contents of MSG: "))
    return ast.literal_eval(line[len("Contents of MSG: "):])   # MSG is str() of the value, as in Abaco


def finished_counts(platform, actors: list[dict]) -> list[int] | None:
    """Executions of each actor, once every one has finished (else None)."""
    counts = []
    for actor in actors:
        found = executions(platform, actor)
        if any(e["status"] not in ("COMPLETE", "ERROR") for e in found):
            return None
        counts.append(len(found))
    return counts


def send_to_head(platform, head: dict) -> str:
    eid = platform.ok("POST", f"/actors/{head['id']}/messages", data={"message": "go"})["execution_id"]
    platform.wait_execution(head["id"], eid)
    return eid


def test_one_message_down_a_chain_of_four_makes_three_executions_not_fourteen(platform):
    # The attack: before links forwarded one event per execution, both EXECUTION_STARTED and
    # EXECUTION_COMPLETE went down every link, so a chain of k actors ran 2^(k-1) times at its end
    # (2 + 4 + 8 = 14 executions after the head for k = 4). Asking for both events is refused.
    for events, named in ((["EXECUTION_STARTED", "EXECUTION_COMPLETE"], "only one of"),
                          (["EXECUTION_COMPLETE", "EVERYTHING"], "'EVERYTHING'")):
        resp = platform.request("POST", "/actors", json={"image": "abaco/echo:local", "link_events": events})
        assert resp.status_code == 400 and named in resp.json()["message"], resp.text
    # The legitimate use: one message to the head runs each actor after it exactly once.
    actors = chain(platform, 4)
    assert all(a["link_events"] == ["EXECUTION_COMPLETE"] for a in actors)
    head_eid = send_to_head(platform, actors[0])
    platform.wait_for(lambda: finished_counts(platform, actors) == [1, 1, 1, 1], timeout=120,
                      what="one execution of each actor of the chain")
    time.sleep(5)                       # nothing more may come
    assert finished_counts(platform, actors) == [1, 1, 1, 1]
    previous = (actors[0], head_eid)
    for depth, actor in enumerate(actors[1:], start=1):
        [execution] = executions(platform, actor)
        assert execution["status"] == "COMPLETE" and execution["link_depth"] == depth
        event = received(platform, actor, execution)
        assert event["event_type"] == "EXECUTION_COMPLETE" and event["status"] == "COMPLETE"
        assert (event["actor_id"], event["execution_id"]) == (previous[0]["id"], previous[1])
        assert event["_abaco_link_depth"] == depth and event["event_time"]
        previous = (actor, execution["id"])


@pytest.fixture
def events_max_depth_two(platform):
    """The events process restarted with [events] link_max_depth = 2 for one test."""
    def restart(settings):
        platform.stop("events")
        log = platform.config.log_dir / "events.log"
        before = log.read_text(errors="replace").count("events ready") if log.exists() else 0
        platform.start("events", [str(BIN / "abaco-events")], settings)
        platform.wait_ready("events", lambda: log.read_text(errors="replace").count("events ready") > before,
                            timeout=60)
    restart({"ABACO_EVENTS_LINK_MAX_DEPTH": "2"})
    yield 2
    restart({})


def test_a_chain_longer_than_link_max_depth_stops_there(platform, events_max_depth_two):
    actors = chain(platform, 4)
    send_to_head(platform, actors[0])
    # The head's event crosses link 1, the second actor's link 2; the third's would cross link 3.
    third = actors[2]
    stopped = platform.wait_for(
        lambda: next((e for e in executions(platform, third) if e.get("link_stopped")), None),
        timeout=120, what="the third actor's execution to say the chain stopped")
    assert stopped["link_depth"] == 2 and "link_max_depth is 2" in stopped["link_stopped"]
    assert actors[3]["id"] in stopped["link_stopped"]
    time.sleep(5)                       # the last actor never runs
    assert finished_counts(platform, actors) == [1, 1, 1, 0]
    assert "link_max_depth is 2" in platform.log_tail("events", 100)


def test_webhook_gets_events_and_failures_are_retried(platform, hook):
    url, received = hook
    actor = platform.register("abaco/echo:local", webhook=url)
    eid = platform.ok("POST", f"/actors/{actor['id']}/messages", data={"message": "go"})["execution_id"]
    platform.wait_execution(actor["id"], eid)
    platform.wait_for(lambda: any(e["event_type"] == "EXECUTION_COMPLETE" and e["execution_id"] == eid
                                  for e in received), timeout=60, what="the webhook to get EXECUTION_COMPLETE")
    assert all(e["actor_id"] == actor["id"] for e in received)


def test_cycles_self_links_missing_targets_and_foreign_hosts_are_refused(platform):
    a = platform.register("abaco/echo:local", wait_ready=False)
    b = platform.register("abaco/echo:local", wait_ready=False, link=a["id"])
    resp = platform.request("PUT", f"/actors/{a['id']}", json={"image": "abaco/echo:local", "link": b["id"]})
    assert resp.status_code == 400 and "cycle" in resp.json()["message"]
    resp = platform.request("PUT", f"/actors/{a['id']}", json={"image": "abaco/echo:local", "link": a["id"]})
    assert resp.status_code == 400 and "cycle" in resp.json()["message"]
    resp = platform.request("POST", "/actors", json={"image": "abaco/echo:local", "link": "no-such-actor"})
    assert resp.status_code == 400
    other = platform.register("abaco/echo:local", user="ev-bob", wait_ready=False)
    resp = platform.request("POST", "/actors", json={"image": "abaco/echo:local", "link": other["id"]})
    assert resp.status_code == 403
    for bad in ("http://192.0.2.1/hook", "ftp://127.0.0.1/x", "not a url"):
        resp = platform.request("POST", "/actors", json={"image": "abaco/echo:local", "webhook": bad})
        assert resp.status_code == 400, bad
    # An alias may be linked to, and a cycle through an alias is seen too.
    alias = "ev-" + a["id"].lower()
    platform.ok("POST", "/actors/aliases", json={"alias": alias, "actor_id": a["id"]})
    c = platform.register("abaco/echo:local", wait_ready=False, link=alias)
    resp = platform.request("PUT", f"/actors/{a['id']}", json={"image": "abaco/echo:local", "link": c["id"]})
    assert resp.status_code == 400 and "cycle" in resp.json()["message"]
    # Removing a link is allowed (empty string).
    assert platform.ok("PUT", f"/actors/{b['id']}", json={"image": "abaco/echo:local", "link": ""})["link"] == ""
