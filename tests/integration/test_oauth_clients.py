"""OAuth2 clients: client credentials, refresh tokens (single use), revocation."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from actors import auth

pytestmark = pytest.mark.integration


def token_call(platform, **fields):
    auth_pair = fields.pop("basic", None)
    return requests.post(platform.url + "/oauth2/token", data=fields, auth=auth_pair, timeout=30)


def bearer(platform, token, path="/actors"):
    return requests.get(platform.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)


@pytest.fixture
def client(platform):
    created = platform.ok("POST", "/oauth2/clients", user="oauth-alice", json={"name": "pipeline"})
    assert created["client_secret"] and created["owner"] == "oauth-alice"
    return created


def test_client_credentials_then_refresh_then_revoke(platform, client):
    listed = platform.ok("GET", "/oauth2/clients", user="oauth-alice")
    assert [c["client_id"] for c in listed] == [client["client_id"]]
    assert "client_secret" not in listed[0] and "secret_sha256" not in listed[0]
    granted = token_call(platform, grant_type="client_credentials", basic=(client["client_id"], client["client_secret"]))
    assert granted.status_code == 200, granted.text
    pair = granted.json()["result"]
    assert pair["token_type"] == "bearer" and pair["expires_in"] > 0
    assert bearer(platform, pair["access_token"]).status_code == 200
    actor = requests.post(platform.url + "/actors", json={"image": "abaco/echo:local"}, timeout=30,
                          headers={"Authorization": f"Bearer {pair['access_token']}"}).json()["result"]
    assert actor["owner"] == "oauth-alice"
    platform.ok("DELETE", f"/actors/{actor['id']}", user="oauth-alice")

    renewed = token_call(platform, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert renewed.status_code == 200
    second = renewed.json()["result"]
    assert second["refresh_token"] != pair["refresh_token"]
    replay = token_call(platform, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert replay.status_code == 400 and "invalid_grant" in replay.json()["message"]

    platform.ok("DELETE", f"/oauth2/clients/{client['client_id']}", user="oauth-alice")
    assert bearer(platform, second["access_token"]).status_code == 401, "access tokens die with their client"
    assert token_call(platform, grant_type="refresh_token", refresh_token=second["refresh_token"]).status_code == 400
    again = token_call(platform, grant_type="client_credentials", client_id=client["client_id"],
                       client_secret=client["client_secret"])
    assert again.status_code == 401


def test_a_refresh_token_works_once_under_concurrent_use(platform, client):
    pair = token_call(platform, grant_type="client_credentials", client_id=client["client_id"],
                      client_secret=client["client_secret"]).json()["result"]
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: token_call(platform, grant_type="refresh_token",
                                                   refresh_token=pair["refresh_token"]).status_code, range(8)))
    assert sorted(codes) == [200] + [400] * 7


def test_bad_grants_and_other_users_clients(platform, client):
    wrong = token_call(platform, grant_type="client_credentials", basic=(client["client_id"], "nope"))
    assert wrong.status_code == 401 and wrong.json()["status"] == "error"
    assert token_call(platform, grant_type="password").status_code == 400
    assert token_call(platform).status_code == 400
    assert token_call(platform, grant_type="refresh_token", refresh_token="garbage").status_code == 400
    assert platform.request("GET", f"/oauth2/clients/{client['client_id']}", user="oauth-bob").status_code == 404
    assert platform.request("DELETE", f"/oauth2/clients/{client['client_id']}", user="oauth-bob").status_code == 404
    assert platform.request("GET", f"/oauth2/clients/{client['client_id']}", user="root",
                            role="admin").status_code == 200
    assert platform.request("POST", "/oauth2/clients", user="oauth-alice", json={"name": 5}).status_code == 400
    assert platform.request("POST", "/oauth2/clients", user=None).status_code == 401


def test_expired_and_tampered_platform_tokens_are_refused(platform):
    expired = auth.issue_token(platform.config, "alice", ttl=-10)
    resp = bearer(platform, expired)
    assert resp.status_code == 401 and "expired" in resp.json()["message"]
    good = platform.token("alice")
    head, body, sig = good.split(".")
    tampered = f"{head}.{body}.{sig[:-4]}AAAA"
    assert bearer(platform, tampered).status_code == 401
