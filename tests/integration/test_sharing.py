"""Permissions, ABACO_WORLD, aliases, nonces (counted under concurrency), tenants, purging."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from actors import auth

pytestmark = pytest.mark.integration


def test_grants_and_the_world(platform):
    actor = platform.register("abaco/echo:local", user="sh-alice", wait_ready=False)
    path = f"/actors/{actor['id']}"
    assert platform.request("GET", path, user="sh-bob").status_code == 404
    perms = platform.ok("POST", f"{path}/permissions", user="sh-alice", json={"user": "sh-bob", "level": "READ"})
    assert perms == {"sh-alice": "UPDATE", "sh-bob": "READ"}
    assert platform.request("GET", path, user="sh-bob").status_code == 200
    assert platform.request("POST", f"{path}/messages", user="sh-bob", data={"message": "x"}).status_code == 403
    assert actor["id"] in [a["id"] for a in platform.ok("GET", "/actors", user="sh-bob")]
    platform.ok("POST", f"{path}/permissions", user="sh-alice", json={"user": "ABACO_WORLD", "level": "EXECUTE"})
    assert platform.request("POST", f"{path}/messages", user="sh-carol", data={"message": "x"}).status_code == 200
    assert platform.request("PUT", path, user="sh-carol", json={"image": "abaco/echo:local"}).status_code == 403
    platform.ok("POST", f"{path}/permissions", user="sh-alice", json={"user": "ABACO_WORLD", "level": "NONE"})
    assert platform.request("GET", path, user="sh-carol").status_code == 404
    for bad in ({"user": "x", "level": "ALL"}, {"user": "", "level": "READ"}, {"level": "READ"}):
        assert platform.request("POST", f"{path}/permissions", user="sh-alice", json=bad).status_code == 400
    assert platform.request("POST", f"{path}/permissions", user="sh-bob",
                            json={"user": "sh-bob", "level": "UPDATE"}).status_code == 403


def test_aliases_stand_for_the_actor(platform):
    actor = platform.register("abaco/echo:local", user="sh-alice")
    other = platform.register("abaco/echo:local", user="sh-alice", wait_ready=False)
    alias = "sh-" + actor["id"].lower()
    made = platform.ok("POST", "/actors/aliases", user="sh-alice", json={"alias": alias, "actorId": actor["id"]})
    assert made["actor_id"] == actor["id"] and "tenant" not in made
    dup = platform.request("POST", "/actors/aliases", user="sh-alice", json={"alias": alias, "actor_id": other["id"]})
    assert dup.status_code == 409
    for bad in ("has space", "sl/ash", "aliases", ""):
        resp = platform.request("POST", "/actors/aliases", user="sh-alice", json={"alias": bad, "actor_id": actor["id"]})
        assert resp.status_code in (400, 404, 405), (bad, resp.status_code)
        assert resp.status_code == 400 or bad in ("sl/ash",), bad
    assert platform.request("POST", "/actors/aliases", user="sh-bob",
                            json={"alias": alias + "x", "actor_id": actor["id"]}).status_code == 404
    eid = platform.ok("POST", f"/actors/{alias}/messages", user="sh-alice", data={"message": "via alias"})["execution_id"]
    assert platform.wait_execution(alias, eid, user="sh-alice")["actor_id"] == actor["id"]
    assert platform.ok("GET", f"/actors/{alias}", user="sh-alice")["id"] == actor["id"]
    assert platform.ok("PUT", f"/actors/aliases/{alias}", user="sh-alice",
                       json={"actor_id": other["id"]})["actor_id"] == other["id"]
    assert platform.ok("GET", f"/actors/{alias}", user="sh-alice")["id"] == other["id"]
    assert alias in [a["alias"] for a in platform.ok("GET", "/actors/aliases", user="sh-alice")]
    assert alias not in [a["alias"] for a in platform.ok("GET", "/actors/aliases", user="sh-bob")]
    platform.ok("DELETE", f"/actors/{other['id']}", user="sh-alice")
    assert platform.request("GET", f"/actors/aliases/{alias}", user="sh-alice").status_code == 404


def test_nonce_uses_are_counted_exactly_under_concurrency(platform):
    actor = platform.register("abaco/echo:local", user="sh-alice")
    other = platform.register("abaco/echo:local", user="sh-alice", wait_ready=False)
    nonce = platform.ok("POST", f"/actors/{actor['id']}/nonces", user="sh-alice",
                        json={"level": "EXECUTE", "maxUses": 5})
    assert nonce["remaining_uses"] == 5

    def send(_):
        return requests.post(f"{platform.url}/actors/{actor['id']}/messages", params={"x-nonce": nonce["id"]},
                             data={"message": "by nonce"}, timeout=60).status_code
    with ThreadPoolExecutor(10) as pool:
        codes = list(pool.map(send, range(10)))
    assert sorted(codes) == [200] * 5 + [401] * 5, codes
    left = platform.ok("GET", f"/actors/{actor['id']}/nonces/{nonce['id']}", user="sh-alice")
    assert left["remaining_uses"] == 0 and left["current_uses"] == 5
    reader = platform.ok("POST", f"/actors/{actor['id']}/nonces", user="sh-alice", json={"level": "READ"})
    url = f"{platform.url}/actors/%s%s"
    assert requests.get(url % (actor["id"], ""), params={"x-nonce": reader["id"]}, timeout=30).status_code == 200
    assert requests.post(url % (actor["id"], "/messages"), params={"x-nonce": reader["id"]},
                         data={"message": "x"}, timeout=30).status_code == 403
    assert requests.get(url % (other["id"], ""), params={"x-nonce": reader["id"]}, timeout=30).status_code == 403
    assert requests.get(f"{platform.url}/actors", params={"x-nonce": "forged"}, timeout=30).status_code == 401
    # A nonce opens its own actor's routes only: no listing.
    assert requests.get(f"{platform.url}/actors", params={"x-nonce": reader["id"]}, timeout=30).status_code == 403
    for bad in ({"level": "ROOT"}, {"max_uses": 0}, {"max_uses": "many"}):
        assert platform.request("POST", f"/actors/{actor['id']}/nonces", user="sh-alice", json=bad).status_code == 400
    platform.ok("POST", f"/actors/{actor['id']}/permissions", user="sh-alice", json={"user": "sh-bob", "level": "READ"})
    assert platform.request("POST", f"/actors/{actor['id']}/nonces", user="sh-bob",
                            json={"level": "EXECUTE"}).status_code == 403
    platform.ok("DELETE", f"/actors/{actor['id']}/nonces/{reader['id']}", user="sh-alice")
    assert requests.get(url % (actor["id"], ""), params={"x-nonce": reader["id"]}, timeout=30).status_code == 401


def test_alias_nonces_have_no_update_level(platform):
    actor = platform.register("abaco/echo:local", user="sh-alice", wait_ready=False)
    alias = "shn-" + actor["id"].lower()
    platform.ok("POST", "/actors/aliases", user="sh-alice", json={"alias": alias, "actor_id": actor["id"]})
    assert platform.request("POST", f"/actors/aliases/{alias}/nonces", user="sh-alice",
                            json={"level": "UPDATE"}).status_code == 400
    nonce = platform.ok("POST", f"/actors/aliases/{alias}/nonces", user="sh-alice", json={"level": "READ"})
    assert requests.get(f"{platform.url}/actors/{alias}", params={"x-nonce": nonce["id"]}, timeout=30).status_code == 200
    assert requests.get(f"{platform.url}/actors/{actor['id']}", params={"x-nonce": nonce["id"]},
                        timeout=30).status_code == 403


def test_tenants_never_see_each_other(platform):
    t2 = auth.issue_token(platform.config, "sh-alice", "admin", tenant="t2")
    mine = platform.register("abaco/echo:local", user="sh-alice", wait_ready=False)
    alias = "sht-" + mine["id"].lower()
    platform.ok("POST", "/actors/aliases", user="sh-alice", json={"alias": alias, "actor_id": mine["id"]})
    headers = {"Authorization": f"Bearer {t2}"}
    assert requests.get(f"{platform.url}/actors/{mine['id']}", headers=headers, timeout=30).status_code == 404
    assert requests.get(f"{platform.url}/actors/{alias}", headers=headers, timeout=30).status_code == 404
    listed = requests.get(f"{platform.url}/actors", headers=headers, timeout=30).json()["result"]
    assert mine["id"] not in [a["id"] for a in listed]
    theirs = requests.post(f"{platform.url}/actors", headers=headers, json={"image": "abaco/echo:local"},
                           timeout=30).json()["result"]
    same_name = requests.post(f"{platform.url}/actors/aliases", headers=headers, timeout=30,
                              json={"alias": alias, "actor_id": theirs["id"]})
    assert same_name.status_code == 200, same_name.text
    assert "tenant" not in theirs and "tenant" not in same_name.json()["result"]
    assert platform.request("GET", f"/actors/{theirs['id']}", user="sh-alice", role="admin").status_code == 404


def test_purging_waiting_messages_ends_their_executions(platform):
    actor = platform.register("abaco/sleep:local", user="sh-alice", max_workers=1,
                              default_environment={"SLEEP_SECONDS": "5"})
    ids = [platform.ok("POST", f"/actors/{actor['id']}/messages", user="sh-alice",
                       data={"message": str(i)})["execution_id"] for i in range(4)]
    platform.wait_for(lambda: platform.execution(actor["id"], ids[0], user="sh-alice")["status"] == "RUNNING",
                      what="the first to run")
    purged = platform.ok("DELETE", f"/actors/{actor['id']}/messages", user="sh-alice")
    assert purged["messages"] == 3 and purged["executions_cancelled"] == 3
    for eid in ids[1:]:
        ex = platform.execution(actor["id"], eid, user="sh-alice")
        assert ex["status"] == "ERROR" and "purged" in ex["status_message"]
    assert platform.ok("GET", f"/actors/{actor['id']}/messages", user="sh-alice")["messages"] == 0
    assert platform.wait_execution(actor["id"], ids[0], user="sh-alice")["status"] == "COMPLETE"
