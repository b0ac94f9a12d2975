"""Every endpoint x every role x owner, grantee at each level, or stranger: the exact status.

The actor belongs to ``mx-owner``. Callers: the owner, users granted READ, EXECUTE and
UPDATE, and a stranger with no grant, each with every role. Owners, admins and callers
holding the endpoint's level may use it (the answer then depends only on the request: a
stateless actor has no state, a finished execution cannot be cancelled); a caller with
a lower level gets 403, a caller with no access at all 404 (the actor's existence does
not leak). OAuth clients are private (404 to others); accounting of another user is 403.

Every test runs in both ``[web] compat`` modes: ``http`` (the codes above, the session's
API) and ``abaco`` (a second API on the same stores), where Abaco's 400 stands for 403 and
for no credentials (401), and state on a stateless actor is a 404. A caller with no access
gets the same 404 in both: the abaco mode tells a stranger nothing more.
"""

from __future__ import annotations

import pytest
import requests

from actors.codes import Level, Role

pytestmark = pytest.mark.integration

# What the abaco mode answers instead of an http-mode code (the rest are the same).
ABACO_CODES = {401: 400, 403: 400}
# Where the allowed answer itself differs: Abaco's 404 "actor is stateless."
ABACO_ALLOWED = {("GET", "/actors/{a}/state"): 404, ("POST", "/actors/{a}/state"): 404}


class Api:
    """The platform's stores seen through one API process in one compat mode."""

    def __init__(self, platform, mode: str, url: str):
        self.platform, self.mode, self.url = platform, mode, url

    def code(self, http_code: int) -> int:
        return ABACO_CODES.get(http_code, http_code) if self.mode == "abaco" else http_code

    def request(self, method: str, path: str, user: str | None = "alice", role: str = "user",
                tenant: str = "default", **kw):
        headers = kw.pop("headers", {})
        if user:
            headers["Authorization"] = f"Bearer {self.platform.token(user, role, tenant)}"
        return requests.request(method, self.url + path, headers=headers, timeout=60, **kw)


@pytest.fixture(scope="module")
def abaco_url(platform):
    url = platform.start_api("api-compat-abaco", {"ABACO_WEB_COMPAT": "abaco"})
    yield url
    platform.stop("api-compat-abaco")


@pytest.fixture(params=["http", "abaco"])
def api(request, platform):
    if request.param == "http":
        return Api(platform, "http", platform.url)
    return Api(platform, "abaco", request.getfixturevalue("abaco_url"))

ROLES = tuple(Role)
GRANTEES = {"mx-reader": Level.READ, "mx-runner": Level.EXECUTE, "mx-editor": Level.UPDATE}

# (method, path, request keywords, level needed, status for a caller who may)
ACTOR_ENDPOINTS = [
    ("GET", "/actors/{a}", {}, Level.READ, 200),
    ("GET", "/actors/{alias}", {}, Level.READ, 200),
    ("PUT", "/actors/{a}", {"json": {"image": "abaco/echo:local", "description": "x"}}, Level.UPDATE, 200),
    ("GET", "/actors/{a}/messages", {}, Level.READ, 200),
    ("POST", "/actors/{a}/messages", {"data": {"message": "m"}}, Level.EXECUTE, 200),
    ("POST", "/actors/{alias}/messages", {"data": {"message": "m"}}, Level.EXECUTE, 200),
    ("DELETE", "/actors/{a}/messages", {}, Level.UPDATE, 200),
    ("GET", "/actors/{a}/executions", {}, Level.READ, 200),
    ("GET", "/actors/{a}/executions/{e}", {}, Level.READ, 200),
    ("DELETE", "/actors/{a}/executions/{e}", {}, Level.EXECUTE, 400),       # it has finished
    ("GET", "/actors/{a}/executions/{e}/logs", {}, Level.READ, 200),
    ("GET", "/actors/{a}/executions/{e}/results", {}, Level.EXECUTE, 200),   # taking a result changes it
    ("GET", "/actors/{a}/workers", {}, Level.READ, 200),
    ("POST", "/actors/{a}/workers", {"json": {"num": 1}}, Level.UPDATE, 200),
    ("DELETE", "/actors/{a}/workers/no-such-worker", {}, Level.UPDATE, 404),
    ("GET", "/actors/{a}/state", {}, Level.READ, 400),                        # stateless actor
    ("POST", "/actors/{a}/state", {"json": {"k": 1}}, Level.UPDATE, 400),
    ("GET", "/actors/{a}/permissions", {}, Level.READ, 200),
    ("POST", "/actors/{a}/permissions", {"json": {"user": "mx-nobody", "level": "NONE"}}, Level.UPDATE, 200),
    ("GET", "/actors/{a}/nonces", {}, Level.UPDATE, 200),
    ("POST", "/actors/{a}/nonces", {"json": {"level": "READ", "max_uses": 1}}, Level.READ, 200),
]


# The routes a nonce opens (its own actor's settings, messages, executions, workers list
# and state); on every other route a nonce is a 403 whatever its level.
NONCE_ROUTES = {("GET", "/actors/{a}"), ("GET", "/actors/{alias}"), ("PUT", "/actors/{a}"),
                ("GET", "/actors/{a}/messages"), ("POST", "/actors/{a}/messages"),
                ("POST", "/actors/{alias}/messages"), ("DELETE", "/actors/{a}/messages"),
                ("GET", "/actors/{a}/executions"), ("GET", "/actors/{a}/executions/{e}"),
                ("DELETE", "/actors/{a}/executions/{e}"), ("GET", "/actors/{a}/executions/{e}/logs"),
                ("GET", "/actors/{a}/executions/{e}/results"), ("GET", "/actors/{a}/workers"),
                ("GET", "/actors/{a}/state"), ("POST", "/actors/{a}/state")}


@pytest.fixture(scope="module")
def target(platform):
    actor = platform.register("abaco/echo:local", user="mx-owner", max_workers=1)
    for user, level in GRANTEES.items():
        platform.ok("POST", f"/actors/{actor['id']}/permissions", user="mx-owner",
                    json={"user": user, "level": Level(level).name})
    alias = "mx-alias-" + actor["id"].lower()
    platform.ok("POST", "/actors/aliases", user="mx-owner", json={"alias": alias, "actor_id": actor["id"]})
    eid = platform.ok("POST", f"/actors/{actor['id']}/messages", user="mx-owner",
                      data={"message": "seed"})["execution_id"]
    platform.wait_execution(actor["id"], eid, user="mx-owner")
    client = platform.ok("POST", "/oauth2/clients", user="mx-owner", json={"name": "mx"})
    nonces = {level: platform.ok("POST", f"/actors/{actor['id']}/nonces", user="mx-owner",
                                 json={"level": level.name, "max_uses": -1})["id"]
              for level in (Level.READ, Level.EXECUTE, Level.UPDATE)}
    yield {"a": actor["id"], "e": eid, "c": client["client_id"], "alias": alias, "nonces": nonces}
    platform.request("DELETE", f"/actors/{actor['id']}", user="mx-owner")


def callers():
    for role in ROLES:
        yield "mx-owner", role, Level.UPDATE
        for user, level in GRANTEES.items():
            yield user, role, Level.UPDATE if role == "admin" else level
        yield "mx-stranger", role, Level.UPDATE if role == "admin" else Level.NONE


@pytest.mark.parametrize("method,path,kw,needed,allowed", ACTOR_ENDPOINTS,
                         ids=[f"{m} {p}" for m, p, _, _, _ in ACTOR_ENDPOINTS])
def test_actor_endpoints(api, target, method, path, kw, needed, allowed):
    url = path.format(**target)
    if api.mode == "abaco":
        allowed = ABACO_ALLOWED.get((method, path), allowed)
    checked = 0
    for user, role, held in callers():
        expected = allowed if held >= needed else (404 if held == Level.NONE else api.code(403))
        resp = api.request(method, url, user=user, role=role, **kw)
        assert resp.status_code == expected, (user, role, held, resp.status_code, resp.text[:300])
        if resp.status_code >= 400:
            assert resp.json()["status"] == "error"
        checked += 1
    assert checked == len(ROLES) * (2 + len(GRANTEES))
    # The same user names and roles in another tenant: nothing of this tenant exists for them.
    for user, role, _held in callers():
        resp = api.request(method, url, user=user, role=role, tenant="mx-other", **kw)
        assert resp.status_code == 404, ("other tenant", user, role, resp.status_code, resp.text[:300])
    # A nonce at each level, with no token: only its own actor's routes, within its level.
    for level, nonce in target["nonces"].items():
        if (method, path) not in NONCE_ROUTES:
            expected = api.code(403)
        else:
            expected = allowed if level >= needed else api.code(403)
        resp = api.request(method, url, user=None, params={"x-nonce": nonce}, **kw)
        assert resp.status_code == expected, ("nonce", level.name, resp.status_code, resp.text[:300])


def test_registering_with_each_role(api):
    for role in ROLES:
        plain = api.request("POST", "/actors", user="mx-reg", role=role, json={"image": "abaco/echo:local"})
        assert plain.status_code == 200, (role, plain.text)
        api.request("DELETE", f"/actors/{plain.json()['result']['id']}", user="mx-reg", role=role)
        privileged = api.request("POST", "/actors", user="mx-reg", role=role,
                                 json={"image": "abaco/echo:local", "privileged": True})
        assert privileged.status_code == (200 if role in ("admin", "privileged") else api.code(403)), role
        if privileged.status_code == 200:
            api.request("DELETE", f"/actors/{privileged.json()['result']['id']}", user="mx-reg", role=role)
        workers = api.request("POST", "/actors", user="mx-reg", role=role,
                              json={"image": "abaco/echo:local", "max_workers": 3})
        assert workers.status_code == (api.code(403) if role == "limited" else 200), role
        if workers.status_code == 200:
            api.request("DELETE", f"/actors/{workers.json()['result']['id']}", user="mx-reg", role=role)
        usage = api.request("GET", "/actors/utilization", user="mx-reg", role=role)
        assert usage.status_code == (200 if role == "admin" else api.code(403)), role


def test_clients_and_accounting(api, target):
    for user, role, _held in callers():
        owner_or_admin = user == "mx-owner" or role == "admin"
        expected = 200 if owner_or_admin else 404
        assert api.request("GET", f"/oauth2/clients/{target['c']}", user=user, role=role).status_code == expected
        expected = 200 if owner_or_admin else api.code(403)
        assert api.request("GET", "/accounting?user=mx-owner", user=user, role=role).status_code == expected
    for method, path in (("GET", "/actors"), ("GET", "/accounting"), ("GET", "/oauth2/clients")):
        assert api.request(method, path, user=None).status_code == api.code(401)


def test_delete_actor(api, platform):
    actor = platform.register("abaco/echo:local", user="mx-owner", wait_ready=False)
    platform.ok("POST", f"/actors/{actor['id']}/permissions", user="mx-owner",
                json={"user": "mx-runner", "level": "EXECUTE"})
    assert api.request("DELETE", f"/actors/{actor['id']}", user="mx-runner").status_code == api.code(403)
    assert api.request("DELETE", f"/actors/{actor['id']}", user="mx-stranger").status_code == 404
    assert api.request("DELETE", f"/actors/{actor['id']}", user="mx-stranger", role="admin").status_code == 200
    assert api.request("DELETE", f"/actors/{actor['id']}", user="mx-owner").status_code == 404
