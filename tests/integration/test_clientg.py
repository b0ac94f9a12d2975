"""clientg: each worker of a token actor gets its own OAuth client; tokens refresh and die with it."""

from __future__ import annotations

import sys

import jwt
import pytest
import requests

from actors.store import open_stores

pytestmark = pytest.mark.integration


def run_and_token(platform, actor_id, user="alice") -> tuple[str, dict]:
    eid = platform.ok("POST", f"/actors/{actor_id}/messages", user=user, data={"message": "t"})["execution_id"]
    ex = platform.wait_execution(actor_id, eid, user=user)
    assert ex["status"] == "COMPLETE", ex
    logs = platform.ok("GET", f"/actors/{actor_id}/executions/{eid}/logs", user=user)["logs"]
    token = next(ln.split("=", 1)[1] for ln in logs.splitlines() if ln.startswith("_abaco_access_token="))
    return token, ex


def api_status(platform, token, path):
    return requests.get(platform.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code


def test_worker_client_token_refresh_and_revocation(platform):
    stores = open_stores(platform.config)
    actor = platform.register("abaco/echo:local", token=True, max_workers=1)
    token, ex = run_and_token(platform, actor["id"])
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "alice" and claims["client_id"] and claims["role"] == "user"
    assert api_status(platform, token, f"/actors/{actor['id']}") == 200
    record = stores.worker_clients.get(ex["worker_id"])
    assert record["client_id"] == claims["client_id"] and "client_secret" not in record
    # About to expire: the worker swaps it for a fresh one before the next execution.
    stores.worker_clients.update(ex["worker_id"], {"expires_at": 0})
    fresh, _ = run_and_token(platform, actor["id"])
    assert fresh != token and api_status(platform, fresh, f"/actors/{actor['id']}") == 200
    # The worker goes with its actor, and clientg deletes its client: its tokens stop working.
    platform.ok("DELETE", f"/actors/{actor['id']}")
    platform.wait_for(lambda: stores.worker_clients.find(ex["worker_id"]) is None, timeout=60,
                      what="clientg to delete the worker's client")
    assert stores.clients.find(claims["client_id"]) is None
    assert api_status(platform, fresh, "/actors") == 401


def test_without_clientg_the_worker_starts_and_says_why(platform):
    platform.stop("clientg")
    try:
        actor = platform.register("abaco/echo:local", token=True, max_workers=1)
        assert platform.ok("GET", f"/actors/{actor['id']}")["status"] == "READY"
        token, ex = run_and_token(platform, actor["id"])
        assert token == ""
        workers = platform.ok("GET", f"/actors/{actor['id']}/workers")
        assert "no OAuth client from clientg" in workers[0]["client_error"]
    finally:
        platform.start("clientg", [sys.executable, "-m", "actors.services.clientg"])
    platform.ok("DELETE", f"/actors/{actor['id']}")
    # The requests clientg missed are handled when it is back, leaving no client behind.
    stores = open_stores(platform.config)
    platform.wait_for(lambda: not any(doc.get("actor_id") == actor["id"] for _, doc in stores.worker_clients.items()),
        timeout=60, what="no client left for the deleted actor's workers")
    platform.wait_for(lambda: not [k for k in stores.clients.keys()
                                   if stores.clients.get(k).get("description", "").endswith(actor["id"])],
                      timeout=60, what="the clients store to hold none of its clients")
