"""Size and quotas: what a heavy user can do is bounded.

Each attack (the request that must now fail, with a 4xx naming the limit) sits next to
the legitimate use that must keep working.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests

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


# ------------------------------------------------------------------ per-user quotas

QUOTAS = {"ABACO_QUOTAS_MAX_ACTORS_PER_USER": "2", "ABACO_QUOTAS_MAX_WORKERS_PER_USER": "3",
          "ABACO_QUOTAS_MAX_QUEUED_MESSAGES": "3"}


@pytest.fixture(scope="module")
def small(platform):
    """An API with small quotas, on the same stores, queues and spawner."""
    url = platform.start_api("api-quotas", QUOTAS)
    yield url
    platform.stop("api-quotas")


def call(platform, url: str, method: str, path: str, user: str, role: str = "user", **kw):
    headers = {"Authorization": f"Bearer {platform.token(user, role)}", **kw.pop("headers", {})}
    return requests.request(method, url + path, headers=headers, timeout=60, **kw)


def ok(resp):
    assert resp.status_code == 200, (resp.status_code, resp.text)
    return resp.json()["result"]


def test_actors_per_user_past_the_quota_are_429(platform, small):
    user = "q-actors"
    made = [ok(call(platform, small, "POST", "/actors", user, json={"image": "abaco/echo:local"}))
            for _ in range(2)]
    refused(call(platform, small, "POST", "/actors", user, json={"image": "abaco/echo:local"}), 429,
            "you own 2 actors", "[quotas] max_actors_per_user")
    mine = [a for a in ok(call(platform, small, "GET", "/actors", user)) if a["owner"] == user]
    assert sorted(a["id"] for a in mine) == sorted(a["id"] for a in made)       # nothing half-written
    # Another user, and an admin, are not bound by this user's count.
    other = ok(call(platform, small, "POST", "/actors", "q-other", json={"image": "abaco/echo:local"}))
    admin = [ok(call(platform, small, "POST", "/actors", "q-admin", role="admin",
                     json={"image": "abaco/echo:local"})) for _ in range(3)]
    # Deleting one frees its place.
    ok(call(platform, small, "DELETE", f"/actors/{made[0]['id']}", user))
    made[0] = ok(call(platform, small, "POST", "/actors", user, json={"image": "abaco/echo:local"}))
    for actor, owner in [(a, user) for a in made] + [(other, "q-other")] + [(a, "q-admin") for a in admin]:
        ok(call(platform, small, "DELETE", f"/actors/{actor['id']}", owner, role="admin"))


def test_workers_per_user_past_the_quota_are_429(platform, small):
    user = "q-workers"
    refused(call(platform, small, "POST", "/actors", user, json={"image": "abaco/echo:local", "max_workers": 4}),
            429, "max_workers is 4", "[quotas] max_workers_per_user")
    actor = ok(call(platform, small, "POST", "/actors", user, json={"image": "abaco/echo:local", "max_workers": 3}))
    refused(call(platform, small, "PUT", f"/actors/{actor['id']}", user,
                 json={"image": "abaco/echo:local", "max_workers": 5}), 429, "[quotas] max_workers_per_user")
    started = ok(call(platform, small, "POST", f"/actors/{actor['id']}/workers", user, json={"num": 3}))
    assert started["requested"] == 2                  # with the first one, three
    # Every worker of this user is taken: a new actor (which starts with one) is refused.
    refused(call(platform, small, "POST", "/actors", user, json={"image": "abaco/echo:local"}), 429,
            "3 live workers", "[quotas] max_workers_per_user")
    assert len(ok(call(platform, small, "GET", f"/actors/{actor['id']}/workers", user))) == 3
    # An admin may go past it.
    big = ok(call(platform, small, "POST", "/actors", "q-admin", role="admin",
                  json={"image": "abaco/echo:local", "max_workers": 5}))
    assert ok(call(platform, small, "POST", f"/actors/{big['id']}/workers", "q-admin", role="admin",
                   json={"num": 4}))["requested"] == 3
    for a, owner in ((actor, user), (big, "q-admin")):
        ok(call(platform, small, "DELETE", f"/actors/{a['id']}", owner, role="admin"))


def test_messages_past_the_mailbox_quota_are_429(platform, small):
    user = "q-queue"
    actor = ok(call(platform, small, "POST", "/actors", user,
                    json={"image": "abaco/sleep:local", "default_environment": {"SLEEP_SECONDS": "300"}}))
    platform.wait_for(lambda: ok(call(platform, small, "GET", f"/actors/{actor['id']}", user))["status"] == "READY",
                      what="actor READY")
    path = f"/actors/{actor['id']}/messages"
    first = ok(call(platform, small, "POST", path, user, data={"message": "busy"}))["execution_id"]
    platform.wait_for(lambda: platform.execution(actor["id"], first, user=user)["status"] == "RUNNING",
                      what="the first execution RUNNING")
    for i in range(3):                                # the worker is busy: these wait
        ok(call(platform, small, "POST", path, user, data={"message": f"wait {i}"}))
    refused(call(platform, small, "POST", path, user, data={"message": "one too many"}), 429,
            "3 messages waiting", "[quotas] max_queued_messages")
    refused(call(platform, small, "POST", path, user, json={"x": 1}), 429, "max_queued_messages")
    assert ok(call(platform, small, "GET", path, user))["messages"] == 3
    executions = ok(call(platform, small, "GET", f"/actors/{actor['id']}/executions", user))["executions"]
    assert len(executions) == 4                       # the refused ones left no execution behind
    # Once the mailbox drains, sending works again.
    ok(call(platform, small, "DELETE", path, user))
    ok(call(platform, small, "POST", path, user, data={"message": "room again"}))
    ok(call(platform, small, "DELETE", f"/actors/{actor['id']}", user))


# ------------------------------------------------------------------ default memory and CPU limits

def test_every_ordinary_execution_has_a_memory_and_cpu_limit_by_default(platform):
    actor = platform.register("abaco/echo:local")
    eid = platform.ok("POST", f"/actors/{actor['id']}/messages", data={"message": "bounded"})["execution_id"]
    ex = platform.wait_execution(actor["id"], eid)
    assert ex["status"] == "COMPLETE", ex
    assert ex["limits"]["memory_max"] == 2 * 1024 ** 3 and ex["limits"]["cpu_quota"] == 1.0
    assert ex["limits"]["pids_max"] == 1024
    # Asking for no limit, or a higher one, needs a privileged user.
    for fields in ({"mem_limit": "4g"}, {"max_cpus": 2_000_000_000}, {"max_cpus": 0}):
        resp = platform.request("POST", "/actors", json={"image": "abaco/echo:local", **fields})
        assert resp.status_code == 403, (fields, resp.text)
        assert "above the default" in resp.json()["message"]
    big = platform.register("abaco/echo:local", user="boss", role="privileged", mem_limit="4g",
                            max_cpus=2_000_000_000)
    eid = platform.ok("POST", f"/actors/{big['id']}/messages", user="boss", data={"message": "big"})["execution_id"]
    ex = platform.wait_execution(big["id"], eid, user="boss")
    assert ex["limits"]["memory_max"] == 4 * 1024 ** 3 and ex["limits"]["cpu_quota"] == 2.0
    for a, owner in ((actor, "alice"), (big, "boss")):
        platform.ok("DELETE", f"/actors/{a['id']}", user=owner, role="privileged" if owner == "boss" else "user")


# ------------------------------------------------------------------ logs capped on disk and in memory

def test_a_flood_of_output_stays_capped_on_disk_and_in_the_record(platform, tmp_path):
    import docker

    from actors.runtime.docker import log_file_bytes
    image = "abaco-test/flood:local"
    (tmp_path / "Dockerfile").write_text(
        'FROM abaco/busybox:local\n'
        'CMD ["sh", "-c", "yes 0123456789abcdef | head -c 30000000; echo; echo flooded; sleep 300"]\n')
    client = docker.from_env()
    client.images.build(path=str(tmp_path), tag=image, rm=True)
    actor = platform.register(image)
    eid = platform.ok("POST", f"/actors/{actor['id']}/messages", data={"message": "flood"})["execution_id"]
    platform.wait_for(lambda: platform.execution(actor["id"], eid)["status"] == "RUNNING", what="RUNNING")
    container = client.containers.get(platform.execution(actor["id"], eid)["container_id"])
    cap = log_file_bytes(platform.config.workers.max_log_length)
    assert container.attrs["HostConfig"]["LogConfig"] == {"Type": "json-file",
                                                          "Config": {"max-size": str(cap), "max-file": "1"}}
    log_path = Path(container.attrs["LogPath"])

    def flooded() -> bool:      # 30 MB written, far past the cap: the file holds at most the cap
        return b"flooded" in log_path.read_bytes()[-4096:]
    platform.wait_for(flooded, timeout=120, what="the flood written")
    assert log_path.stat().st_size <= cap
    platform.ok("DELETE", f"/actors/{actor['id']}/executions/{eid}")
    ex = platform.wait_execution(actor["id"], eid)
    logs = platform.request("GET", f"/actors/{actor['id']}/executions/{eid}/logs").json()["result"]["logs"]
    limit = platform.config.workers.max_log_length
    assert ex["logs_truncated"] is True and len(logs.encode()) == limit
    assert f"logs truncated at {limit} bytes" in ex["status_message"]
    platform.ok("DELETE", f"/actors/{actor['id']}")


# ------------------------------------------------------------------ logs and results expire

def test_logs_and_results_expire_by_default_and_log_ex_overrides(platform):
    redis = RedisBackend(platform.config)
    prefix = platform.config.general.instance
    actor = platform.register("abaco/result:local")
    short = platform.register("abaco/result:local", log_ex=60)
    ids = {}
    for a in (actor, short):
        ids[a["id"]] = platform.ok("POST", f"/actors/{a['id']}/messages", data={"message": "abc"})["execution_id"]
        ex = platform.wait_execution(a["id"], ids[a["id"]])
        assert ex["status"] == "COMPLETE" and ex["has_results"], ex
    eid = ids[actor["id"]]
    logs_ttl, results_ttl = platform.config.store.logs_ttl, platform.config.store.results_ttl
    assert (logs_ttl, results_ttl) == (30 * 86400, 7 * 86400)          # abaco.conf's defaults
    assert 0 < redis.client.ttl(f"{prefix}:logs:{eid}") <= logs_ttl
    assert 0 < redis.client.ttl(f"{prefix}:results:l:{eid}") <= results_ttl
    assert 0 < redis.client.ttl(f"{prefix}:results:n:{eid}") <= results_ttl
    assert 0 < redis.client.ttl(f"{prefix}:logs:{ids[short['id']]}") <= 60
    # Until then they are there as before.
    assert platform.request("GET", f"/actors/{actor['id']}/executions/{eid}/results").content
    for a in (actor, short):
        platform.ok("DELETE", f"/actors/{a['id']}")
