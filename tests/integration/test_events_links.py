"""Events reach linked actors and webhooks; links cannot form cycles."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytestmark = pytest.mark.integration


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


def test_link_chain_carries_events_to_the_next_actor(platform):
    last = platform.register("abaco/echo:local")
    first = platform.register("abaco/echo:local", link=last["id"])
    eid = platform.ok("POST", f"/actors/{first['id']}/messages", data={"message": "go"})["execution_id"]
    platform.wait_execution(first["id"], eid)

    def linked_events():
        out = []
        for summary in platform.ok("GET", f"/actors/{last['id']}/executions")["executions"]:
            ex = platform.execution(last["id"], summary["id"])
            if ex["status"] not in ("COMPLETE", "ERROR"):
                return None
            logs = platform.ok("GET", f"/actors/{last['id']}/executions/{summary['id']}/logs")["logs"]
            line = next(ln for ln in logs.splitlines() if ln.startswith("Contents of MSG: "))
            out.append(json.loads(line[len("Contents of MSG: "):]))
        kinds = {e["event_type"] for e in out}
        return out if {"EXECUTION_STARTED", "EXECUTION_COMPLETE"} <= kinds else None
    events = platform.wait_for(linked_events, timeout=90, what="the linked actor to get the events")
    done = next(e for e in events if e["event_type"] == "EXECUTION_COMPLETE")
    assert done["actor_id"] == first["id"] and done["execution_id"] == eid and done["status"] == "COMPLETE"
    assert done["_abaco_link_depth"] == 0 and done["event_time"]


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
