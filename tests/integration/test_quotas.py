"""Size and quotas: what a heavy user can do is bounded.

Each attack (the request that must now fail, with a 4xx naming the limit) sits next to
the legitimate use that must keep working.
"""

from __future__ import annotations

import json
import re

import pytest

from actors.store.redis import RedisBackend

DEPTH = 64          # [web] max_json_depth in abaco.conf


def nested(levels: int, leaf="x") -> str:
    """JSON text: ``levels`` arrays and objects around ``leaf``, alternating."""
    head = "".join('{"k":' if i % 2 else "[" for i in range(levels))
    tail = "".join("}" if i % 2 else "]" for i in reversed(range(levels)))
    return head + json.dumps(leaf) + tail


def post_json(platform, path: str, text: str, **kw):
    return platform.request("POST", path, data=text, headers={"Content-Type": "application/json"}, **kw)


def refused(resp, status: int, *words: str) -> dict:
    assert resp.status_code == status, (resp.status_code, resp.text)
    body = resp.json()
    assert body["status"] == "error" and body["result"] is None
    for word in words:
        assert word in body["message"], body["message"]
    return body


@pytest.fixture(scope="module")
def stateful(platform):
    return platform.register("abaco/echo:local", wait_ready=False, stateless=False, name="deep-state")


# ------------------------------------------------------------------ JSON depth

def test_request_bodies_deeper_than_max_json_depth_are_400(platform):
    fine = {"image": "abaco/echo:local", "name": "depth-ok", "hints": ["sync"]}
    actor = platform.ok("POST", "/actors", json=fine)
    platform.ok("DELETE", f"/actors/{actor['id']}")
    deep = '{"image": "abaco/echo:local", "default_environment": ' + nested(DEPTH) + "}"
    refused(post_json(platform, "/actors", deep), 400, "the request body", f"{DEPTH + 1} levels",
            "max_json_depth")
    # So deep that json.loads itself would raise RecursionError (a 500 before).
    refused(post_json(platform, "/actors", "[" * 200_000 + "]" * 200_000), 400, "200000 levels")
    assert not [a for a in platform.ok("GET", "/actors") if a["name"] == "depth-ok"]


def test_json_messages_deeper_than_max_json_depth_are_400(platform, stateful):
    at_limit = nested(DEPTH, "ok")
    sent = platform.ok("POST", f"/actors/{stateful['id']}/messages", data=at_limit,
                       headers={"Content-Type": "application/json"})
    assert sent["execution_id"]
    before = platform.ok("GET", f"/actors/{stateful['id']}/executions")
    refused(post_json(platform, f"/actors/{stateful['id']}/messages", nested(DEPTH + 1)), 400,
            "the JSON message", "max_json_depth")
    refused(post_json(platform, f"/actors/{stateful['id']}/messages", "{\"a\":" * 30_000 + "1" + "}" * 30_000),
            400, "30000 levels")
    after = platform.ok("GET", f"/actors/{stateful['id']}/executions")
    assert len(after["executions"]) == len(before["executions"])      # nothing half-written


def test_state_deeper_than_max_json_depth_is_400_and_the_old_state_stays(platform, stateful):
    path = f"/actors/{stateful['id']}/state"
    kept = json.loads(nested(DEPTH, "kept"))
    assert platform.ok("POST", path, json=kept)["state"] == kept
    refused(post_json(platform, path, nested(DEPTH + 1)), 400, "the state", f"limit is {DEPTH}")
    refused(post_json(platform, path, "[" * 50_000 + "]" * 50_000), 400, "50000 levels")
    assert platform.ok("GET", path)["state"] == kept


def test_a_state_stored_deeper_before_the_limit_does_not_make_search_fail(platform, stateful):
    """A state nested 960 levels deep (the old API took up to about 980), read by a reader."""
    platform.ok("POST", f"/actors/{stateful['id']}/permissions", json={"user": "bob", "level": "READ"})
    store = RedisBackend(platform.config).store("actors")
    doc = store.get(stateful["id"])
    doc["state"] = "PLACEHOLDER"
    text = json.dumps(doc).replace('"PLACEHOLDER"', "[" * 960 + '"kumquat"' + "]" * 960)
    store.r.set(store._doc(stateful["id"]), text)
    for user in ("bob", "alice"):
        for query in ("exactsearch=kumquat", "search=kumquat", "state.like=kum*"):
            resp = platform.request("GET", f"/actors/search/actors?{query}", user=user)
            assert resp.status_code in (200, 400), (query, resp.status_code, resp.text)
            if resp.status_code == 200:      # too deep for this test's own json.loads: read as text
                assert re.search(r'"total_count":\s*1\b', resp.text), resp.text[-300:]
                assert re.search(rf'"id":\s*"{stateful["id"]}"', resp.text)
            else:
                refused(resp, 400, "nested too deeply", "max_json_depth")
    # The owner replaces it with a legitimate state, and every search answers again.
    platform.ok("POST", f"/actors/{stateful['id']}/state", json={"fruit": "kumquat"})
    found = platform.ok("GET", "/actors/search/actors?exactsearch=kumquat", user="bob")
    assert [a["id"] for a in found["search"]] == [stateful["id"]]
