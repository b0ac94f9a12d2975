"""Safe to share, part 1: each attack as it was tried, refused now, next to the use that must still work.

Nonces, tenants, privileged actors, secrets, browsers, tokens at rest, results and
metrics (gateway JWT tenants are in test_access_modes.py, metrics in
test_accounting_service.py, every endpoint against every caller in
test_authorization_matrix.py).
"""

from __future__ import annotations

import os
import stat

import pytest
import requests

from actors import crypto
from actors.store import open_stores

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stores(platform):
    return open_stores(platform.config)


def by_nonce(platform, method, path, nonce, **kw):
    return requests.request(method, platform.url + path, params={"x-nonce": nonce, **kw.pop("params", {})},
                            timeout=60, **kw)


def uses(stores, nonce_id):
    return stores.nonces.get(nonce_id)["current_uses"]


def logs_of(platform, actor_id, user, params=None, tenant="default"):
    eid = platform.ok("POST", f"/actors/{actor_id}/messages", user=user, data={"message": "x"},
                      params=params or {}, tenant=tenant)["execution_id"]
    platform.wait_execution(actor_id, eid, user=user, tenant=tenant)
    return platform.ok("GET", f"/actors/{actor_id}/executions/{eid}/logs", user=user, tenant=tenant)["logs"]


# ---------------------------------------------------------------------- nonces

def test_a_nonce_creates_nothing_and_lists_nothing(platform, stores):
    actor = platform.register("abaco/echo:local", user="ss-alice", wait_ready=False)
    nonce = platform.ok("POST", f"/actors/{actor['id']}/nonces", user="ss-alice",
                        json={"level": "READ", "max_uses": 1})["id"]
    attacks = [("POST", "/oauth2/clients", {"json": {"name": "stolen"}}),
               ("GET", "/oauth2/clients", {}),
               ("POST", "/actors", {"json": {"image": "abaco/echo:local"}}),
               ("GET", "/actors", {}),
               ("POST", f"/actors/{actor['id']}/nonces", {"json": {"level": "READ", "max_uses": -1}}),
               ("GET", f"/actors/{actor['id']}/nonces", {}),
               ("POST", f"/actors/{actor['id']}/permissions", {"json": {"user": "ss-mallory", "level": "READ"}}),
               ("POST", f"/actors/{actor['id']}/workers", {"json": {"num": 1}}),
               ("POST", "/actors/aliases", {"json": {"alias": "ss-stolen", "actor_id": actor["id"]}}),
               ("POST", "/actors/configs", {"json": {"name": "STOLEN", "value": "v", "actors": ""}}),
               ("GET", "/actors/search/actors", {}), ("GET", "/actors/search/logs", {}),
               ("GET", "/accounting", {}), ("GET", "/metrics", {}), ("GET", "/actors/utilization", {})]
    for method, path, kw in attacks:
        resp = by_nonce(platform, method, path, nonce, **kw)
        assert resp.status_code in (401, 403), (method, path, resp.status_code, resp.text[:200])
        assert uses(stores, nonce) == 0, (method, path)            # a refused request is not a use
    # The legitimate use: its one use reads its actor.
    assert by_nonce(platform, "GET", f"/actors/{actor['id']}", nonce).status_code == 200
    assert uses(stores, nonce) == 1
    assert by_nonce(platform, "GET", f"/actors/{actor['id']}", nonce).status_code == 401


def test_every_route_a_nonce_opens_counts_one_use(platform, stores):
    actor = platform.register("abaco/echo:local", user="ss-alice", max_workers=1)
    eid = platform.ok("POST", f"/actors/{actor['id']}/messages", user="ss-alice", data={"message": "x"})["execution_id"]
    platform.wait_execution(actor["id"], eid, user="ss-alice")
    nonce = platform.ok("POST", f"/actors/{actor['id']}/nonces", user="ss-alice",
                        json={"level": "UPDATE", "max_uses": -1})["id"]
    base = f"/actors/{actor['id']}"
    for method, path, kw in (("GET", base, {}), ("GET", f"{base}/messages", {}),
                             ("POST", f"{base}/messages", {"data": {"message": "m"}}),
                             ("GET", f"{base}/executions", {}), ("GET", f"{base}/executions/{eid}", {}),
                             ("GET", f"{base}/executions/{eid}/logs", {}),
                             ("GET", f"{base}/executions/{eid}/results", {}), ("GET", f"{base}/workers", {}),
                             ("PUT", base, {"json": {"image": "abaco/echo:local", "description": "by nonce"}})):
        before = uses(stores, nonce)
        resp = by_nonce(platform, method, path, nonce, **kw)
        assert resp.status_code == 200, (method, path, resp.text[:200])
        assert uses(stores, nonce) == before + 1, (method, path)


def test_a_nonce_never_gives_more_than_its_maker_holds_now(platform, stores):
    actor = platform.register("abaco/echo:local", user="ss-alice", wait_ready=False)
    path = f"/actors/{actor['id']}"
    platform.ok("POST", f"{path}/permissions", user="ss-alice", json={"user": "ss-bob", "level": "EXECUTE"})
    # bob may give at most what he holds
    assert platform.request("POST", f"{path}/nonces", user="ss-bob", json={"level": "UPDATE"}).status_code == 403
    nonce = platform.ok("POST", f"{path}/nonces", user="ss-bob", json={"level": "EXECUTE"})["id"]
    assert by_nonce(platform, "GET", path, nonce).status_code == 200
    platform.ok("POST", f"{path}/permissions", user="ss-alice", json={"user": "ss-bob", "level": "READ"})
    assert by_nonce(platform, "POST", f"{path}/messages", nonce, data={"message": "x"}).status_code == 403
    assert by_nonce(platform, "GET", path, nonce).status_code == 200          # READ is still his
    platform.ok("POST", f"{path}/permissions", user="ss-alice", json={"user": "ss-bob", "level": "NONE"})
    before = uses(stores, nonce)
    assert by_nonce(platform, "GET", path, nonce).status_code == 403
    assert uses(stores, nonce) == before


def test_an_alias_nonce_is_capped_by_the_actor_too(platform):
    actor = platform.register("abaco/echo:local", user="ss-alice", wait_ready=False)
    alias = "ss-" + actor["id"].lower()
    platform.ok("POST", "/actors/aliases", user="ss-alice", json={"alias": alias, "actor_id": actor["id"]})
    platform.ok("POST", f"/actors/aliases/{alias}/permissions", user="ss-alice",
                json={"user": "ss-eve", "level": "READ"})
    # eve reads the alias record but holds nothing on the actor: no nonce that would reach it
    assert platform.request("GET", f"/actors/aliases/{alias}", user="ss-eve").status_code == 200
    assert platform.request("POST", f"/actors/aliases/{alias}/nonces", user="ss-eve",
                            json={"level": "READ"}).status_code == 403
    # the owner's alias nonce works through the alias
    nonce = platform.ok("POST", f"/actors/aliases/{alias}/nonces", user="ss-alice", json={"level": "READ"})["id"]
    assert by_nonce(platform, "GET", f"/actors/{alias}", nonce).status_code == 200


def test_nonce_values_never_reach_the_api_log(platform):
    actor = platform.register("abaco/echo:local", user="ss-alice", wait_ready=False)
    nonce = platform.ok("POST", f"/actors/{actor['id']}/nonces", user="ss-alice", json={"level": "READ"})["id"]
    assert by_nonce(platform, "GET", f"/actors/{actor['id']}", nonce).status_code == 200
    log = platform.config.log_dir / "api.log"
    platform.wait_for(lambda: f"/actors/{actor['id']}?x-nonce=***" in log.read_text(), timeout=10,
                      what="the request in the access log")
    assert nonce not in log.read_text()


# ---------------------------------------------------------------------- tenants

def test_two_tenants_with_the_same_names_share_nothing(platform):
    t1 = {"tenant": "ss-t1"}
    t2 = {"tenant": "ss-t2"}
    a1 = platform.ok("POST", "/actors", user="ss-ann", json={"image": "abaco/echo:local"}, **t1)
    a2 = platform.ok("POST", "/actors", user="ss-ann", json={"image": "abaco/echo:local"}, **t2)
    for actor, tenant in ((a1, t1), (a2, t2)):
        platform.ok("POST", "/actors/aliases", user="ss-ann", json={"alias": "pipe", "actor_id": actor["id"]}, **tenant)
        platform.ok("POST", "/actors/configs", user="ss-ann", json={"name": "CFG", "value": tenant["tenant"],
                                                                     "actors": "pipe", "is_secret": True}, **tenant)
        platform.ok("POST", "/actors/aliases/pipe/nonces", user="ss-ann", json={"level": "READ"}, **tenant)
    # the same user name in the other tenant is another user: nothing of t1 is reachable from t2
    assert platform.request("GET", f"/actors/{a1['id']}", user="ss-ann", **t2).status_code == 404
    listed = platform.ok("GET", "/actors/aliases/pipe/nonces", user="ss-ann", **t2)
    assert len(listed) == 1
    nonce_t1 = platform.ok("GET", "/actors/aliases/pipe/nonces", user="ss-ann", **t1)[0]["id"]
    assert listed[0]["id"] != nonce_t1
    # a grant in t2 on alias pipe / config CFG gives dave nothing on t1's pipe / CFG
    platform.ok("POST", "/actors/aliases/pipe/permissions", user="ss-ann", json={"user": "ss-dave", "level": "UPDATE"},
                **t2)
    platform.ok("POST", "/actors/configs/CFG/permissions", user="ss-ann", json={"user": "ss-dave", "level": "UPDATE"},
                **t2)
    assert platform.request("GET", "/actors/aliases/pipe", user="ss-dave", **t1).status_code == 404
    assert platform.request("PUT", "/actors/configs/CFG", user="ss-dave", json={"is_secret": False, "value": "x"},
                            **t1).status_code == 404
    assert platform.request("PUT", "/actors/aliases/pipe", user="ss-dave", json={"actor_id": a1["id"]},
                            **t1).status_code == 404
    # t1's nonce on its pipe does not open t2's pipe
    assert by_nonce(platform, "GET", "/actors/pipe", nonce_t1).json()["result"]["id"] == a1["id"]
    # and in t2, dave holds what was granted there
    assert platform.request("GET", "/actors/aliases/pipe", user="ss-dave", **t2).status_code == 200
    # each actor gets its own tenant's secret, under the same name
    assert "CFG=ss-t1" in logs_of(platform, a1["id"], "ss-ann", tenant="ss-t1")
    assert "CFG=ss-t2" in logs_of(platform, a2["id"], "ss-ann", tenant="ss-t2")


# ---------------------------------------------------------------------- privileged actors

def test_only_privileged_users_change_a_privileged_actor(platform):
    actor = platform.ok("POST", "/actors", user="ss-priv", role="privileged",
                        json={"image": "abaco/echo:local", "privileged": True})
    path = f"/actors/{actor['id']}"
    platform.ok("POST", f"{path}/permissions", user="ss-priv", role="privileged",
                json={"user": "ss-plain", "level": "UPDATE"})
    attack = platform.request("PUT", path, user="ss-plain", json={"image": "abaco/sleep:local"})
    assert attack.status_code == 403 and "privileged" in attack.json()["message"]
    assert platform.request("POST", f"{path}/permissions", user="ss-plain",
                            json={"user": "ss-friend", "level": "UPDATE"}).status_code == 403
    assert platform.request("POST", f"{path}/nonces", user="ss-plain", json={"level": "UPDATE"}).status_code == 403
    # what the plain user may still do, and the privileged owner's own change
    assert platform.request("POST", f"{path}/permissions", user="ss-plain",
                            json={"user": "ss-friend", "level": "READ"}).status_code == 200
    assert platform.request("POST", f"{path}/nonces", user="ss-plain", json={"level": "EXECUTE"}).status_code == 200
    assert platform.request("PUT", path, user="ss-priv", role="privileged",
                            json={"image": "abaco/echo:local", "description": "mine"}).status_code == 200
    platform.ok("DELETE", path, user="ss-priv", role="privileged")


# ---------------------------------------------------------------------- secrets

def test_a_secret_is_never_shown_nor_handed_to_strangers(platform, stores):
    mine = platform.register("abaco/echo:local", user="ss-sam")
    theirs = platform.register("abaco/echo:local", user="ss-tom")
    platform.ok("POST", f"/actors/{theirs['id']}/permissions", user="ss-tom",
                json={"user": "ss-sam", "level": "UPDATE"})
    platform.ok("POST", "/actors/configs", user="ss-sam",
                json={"name": "SS_SECRET", "value": "hunter2", "actors": f"{mine['id']},{theirs['id']}",
                      "is_secret": True})
    platform.ok("POST", "/actors/configs/SS_SECRET/permissions", user="ss-sam", json={"user": "ss-uma", "level": "UPDATE"})
    # uma may update the config but never read it, not even by making it plain
    flip = platform.request("PUT", "/actors/configs/SS_SECRET", user="ss-uma", json={"is_secret": False})
    assert flip.status_code == 403
    assert platform.ok("GET", "/actors/configs/SS_SECRET", user="ss-uma")["value"] == "********"
    assert platform.request("PUT", "/actors/configs/SS_SECRET", user="ss-uma",
                            json={"actors": f"{mine['id']}"}).status_code in (403, 404)
    # the owner may make it plain only with a new value (the old one is never shown)
    assert platform.request("PUT", "/actors/configs/SS_SECRET", user="ss-sam", json={"is_secret": False}).status_code == 400
    # tom's actor is listed, but tom may not read the config: the secret does not go into it
    assert "SS_SECRET=hunter2" in logs_of(platform, mine["id"], "ss-sam")
    assert "SS_SECRET" not in logs_of(platform, theirs["id"], "ss-tom")
    # an actor holding a secret takes only declared variables; and no message replaces a config's variable
    assert platform.request("POST", f"/actors/{mine['id']}/messages", user="ss-sam", params={"SS_SECRET": "mine-now"},
                            data={"message": "x"}).status_code == 400
    plain = platform.register("abaco/echo:local", user="ss-sam")
    platform.ok("POST", "/actors/configs", user="ss-sam", json={"name": "SS_PLAIN", "value": "from-config",
                                                                "actors": plain["id"], "is_secret": False})
    assert "SS_PLAIN=from-config" in logs_of(platform, plain["id"], "ss-sam", params={"SS_PLAIN": "mine-now"})
    made_plain = platform.ok("PUT", "/actors/configs/SS_SECRET", user="ss-sam", json={"is_secret": False, "value": "open"})
    assert made_plain["value"] == "open"
    stored = stores.configs.get("default:SS_SECRET")
    assert "hunter2" not in str(stored)


# ---------------------------------------------------------------------- browsers

def test_json_is_read_only_from_a_json_request(platform):
    text_plain = platform.request("POST", "/actors", data='{"image": "abaco/echo:local"}',
                                  headers={"Content-Type": "text/plain"})
    assert text_plain.status_code == 400 and "application/json" in text_plain.json()["message"]
    assert platform.request("POST", "/actors", json={"image": "abaco/echo:local"}).status_code == 200


def test_configured_origins_only(platform):
    url = platform.start_api("api-cors", {"ABACO_WEB_CORS_ORIGINS": "https://portal.example"})
    allowed = requests.get(url + "/actors", headers={"Origin": "https://portal.example"}, timeout=30)
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://portal.example"
    assert "Access-Control-Allow-Credentials" not in allowed.headers
    other = requests.get(url + "/actors", headers={"Origin": "https://evil.example"}, timeout=30)
    assert "Access-Control-Allow-Origin" not in other.headers


# ---------------------------------------------------------------------- tokens at rest, logs

def test_worker_client_tokens_are_encrypted_at_rest(platform, stores):
    actor = platform.register("abaco/echo:local", user="ss-tok", token=True)
    records = platform.wait_for(lambda: [d for _, d in stores.worker_clients.items() if d["actor_id"] == actor["id"]],
                                timeout=60, what="the worker's client")
    for field in ("access_token", "refresh_token"):
        value = records[0][field]
        assert not value.startswith("eyJ") and "." not in value[:20], field
        assert crypto.decrypt(platform.config, value), field


def test_log_files_are_for_the_platform_only(platform):
    from actors import config as config_mod
    stack = config_mod.load()
    if not stack.log_dir.is_dir():
        pytest.fail(f"the stack `make up` started keeps no logs in {stack.log_dir}")
    files = [p for p in stack.log_dir.glob("*.log") if p.stat().st_uid == os.getuid()]
    assert files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


# ---------------------------------------------------------------------- results

def test_taking_a_result_needs_execute(platform):
    actor = platform.register("abaco/result:local", user="ss-res")
    eid = platform.ok("POST", f"/actors/{actor['id']}/messages", user="ss-res", data={"message": "x"})["execution_id"]
    platform.wait_execution(actor["id"], eid, user="ss-res")
    platform.ok("POST", f"/actors/{actor['id']}/permissions", user="ss-res", json={"user": "ss-reader", "level": "READ"})
    path = f"/actors/{actor['id']}/executions/{eid}/results"
    assert platform.request("GET", path, user="ss-reader").status_code == 403
    resp = platform.request("GET", path, user="ss-res")
    assert resp.status_code == 200 and resp.content
