"""Every endpoint x every role x owner or stranger: the exact status code.

The actor belongs to ``mx-owner``; callers are that user or a stranger, each with every
role. Owners and admins may do everything (the answers then depend only on the request:
a stateless actor has no state, a finished execution cannot be cancelled); anyone else
gets 403, except OAuth clients, which are private and answer 404.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

ROLES = ("admin", "privileged", "user", "limited")

# (method, path, request keywords, status for a caller who may do it)
ACTOR_ENDPOINTS = [
    ("GET", "/actors/{a}", {}, 200),
    ("PUT", "/actors/{a}", {"json": {"image": "abaco/echo:local", "description": "x"}}, 200),
    ("GET", "/actors/{a}/messages", {}, 200),
    ("POST", "/actors/{a}/messages", {"data": {"message": "m"}}, 200),
    ("GET", "/actors/{a}/executions", {}, 200),
    ("GET", "/actors/{a}/executions/{e}", {}, 200),
    ("DELETE", "/actors/{a}/executions/{e}", {}, 400),          # it has finished
    ("GET", "/actors/{a}/executions/{e}/logs", {}, 200),
    ("GET", "/actors/{a}/executions/{e}/results", {}, 200),
    ("GET", "/actors/{a}/workers", {}, 200),
    ("POST", "/actors/{a}/workers", {"json": {"num": 1}}, 200),
    ("GET", "/actors/{a}/state", {}, 400),                       # stateless actor
    ("POST", "/actors/{a}/state", {"json": {"k": 1}}, 400),
]


@pytest.fixture(scope="module")
def target(platform):
    actor = platform.register("abaco/echo:local", user="mx-owner", max_workers=1)
    eid = platform.ok("POST", f"/actors/{actor['id']}/messages", user="mx-owner",
                      data={"message": "seed"})["execution_id"]
    platform.wait_execution(actor["id"], eid, user="mx-owner")
    client = platform.ok("POST", "/oauth2/clients", user="mx-owner", json={"name": "mx"})
    yield {"a": actor["id"], "e": eid, "c": client["client_id"]}
    platform.request("DELETE", f"/actors/{actor['id']}", user="mx-owner")


def callers():
    for role in ROLES:
        yield "mx-owner", role, True
        yield "mx-stranger", role, False


@pytest.mark.parametrize("method,path,kw,allowed", ACTOR_ENDPOINTS,
                         ids=[f"{m} {p}" for m, p, _, _ in ACTOR_ENDPOINTS])
def test_actor_endpoints(platform, target, method, path, kw, allowed):
    url = path.format(**target)
    seen = {}
    for user, role, owner in callers():
        expected = allowed if owner or role == "admin" else 403
        resp = platform.request(method, url, user=user, role=role, **kw)
        seen[(user, role)] = resp.status_code
        assert resp.status_code == expected, (user, role, resp.status_code, resp.text[:300])
        if resp.status_code >= 400:
            assert resp.json()["status"] == "error"
    assert len(seen) == 2 * len(ROLES)


def test_registering_with_each_role(platform):
    for role in ROLES:
        plain = platform.request("POST", "/actors", user="mx-reg", role=role, json={"image": "abaco/echo:local"})
        assert plain.status_code == 200, (role, plain.text)
        platform.request("DELETE", f"/actors/{plain.json()['result']['id']}", user="mx-reg", role=role)
        privileged = platform.request("POST", "/actors", user="mx-reg", role=role,
                                      json={"image": "abaco/echo:local", "privileged": True})
        assert privileged.status_code == (200 if role in ("admin", "privileged") else 403), role
        if privileged.status_code == 200:
            platform.request("DELETE", f"/actors/{privileged.json()['result']['id']}", user="mx-reg", role=role)
        workers = platform.request("POST", "/actors", user="mx-reg", role=role,
                                   json={"image": "abaco/echo:local", "max_workers": 3})
        assert workers.status_code == (403 if role == "limited" else 200), role
        if workers.status_code == 200:
            platform.request("DELETE", f"/actors/{workers.json()['result']['id']}", user="mx-reg", role=role)


def test_clients_and_accounting(platform, target):
    for user, role, owner in callers():
        expected = 200 if owner or role == "admin" else 404
        assert platform.request("GET", f"/oauth2/clients/{target['c']}", user=user, role=role).status_code == expected
        expected = 200 if owner or role == "admin" else 403
        assert platform.request("GET", "/accounting?user=mx-owner", user=user, role=role).status_code == expected
    for method, path in (("GET", "/actors"), ("GET", "/accounting"), ("GET", "/oauth2/clients")):
        assert platform.request(method, path, user=None).status_code == 401


def test_delete_actor(platform):
    actor = platform.register("abaco/echo:local", user="mx-owner", wait_ready=False)
    for user, role, owner in callers():
        if not owner and role != "admin":
            assert platform.request("DELETE", f"/actors/{actor['id']}", user=user, role=role).status_code == 403
    assert platform.request("DELETE", f"/actors/{actor['id']}", user="mx-stranger", role="admin").status_code == 200
    assert platform.request("DELETE", f"/actors/{actor['id']}", user="mx-owner").status_code == 404
