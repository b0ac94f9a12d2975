"""Each access-control mode end to end: jwt_header (API gateway), mtls (real nginx), none."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import ssl
import subprocess
import time
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]

USER_CLAIM = "http://wso2.org/claims/enduser"
ROLE_CLAIM = "http://wso2.org/claims/role"


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_public(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def gateway(platform, tmp_path_factory):
    key = rsa_key()
    pub = tmp_path_factory.mktemp("gateway") / "gateway.pub.pem"
    pub.write_bytes(pem_public(key))
    url = platform.start_api("api-gateway", {"ABACO_WEB_ACCESS_CONTROL": "jwt_header",
                                             "ABACO_AUTH_JWT_HEADER_PUBLIC_KEY": str(pub),
                                             "ABACO_AUTH_TENANTS": "default,SD2E"})
    return url, key, pub


def assertion(key, user="carol@carbon.super", roles="Internal/everyone", exp_in=300, alg="RS256",
              tenant: str | None = "default"):
    claims = {USER_CLAIM: user, ROLE_CLAIM: roles, "exp": int(time.time()) + exp_in}
    if tenant is not None:
        claims["tenant"] = tenant
    return jwt.encode(claims, key, algorithm=alg)


def b64(doc: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def call(url, method, path, tenant="DEFAULT", token=None, **kw):
    headers = kw.pop("headers", {})
    if token is not None:
        headers[f"X-Jwt-Assertion-{tenant}"] = token
    return requests.request(method, url + path, headers=headers, timeout=30, **kw)


def test_gateway_jwt_names_user_role_and_tenant(gateway):
    url, key, _ = gateway
    resp = call(url, "POST", "/actors", token=assertion(key), json={"image": "abaco/echo:local"})
    assert resp.status_code == 200, resp.text
    actor = resp.json()["result"]
    assert actor["owner"] == "carol"                        # @carbon.super dropped
    assert "tenant" not in actor
    other_tenant = call(url, "GET", f"/actors/{actor['id']}", tenant="SD2E", token=assertion(key, tenant="SD2E"))
    assert other_tenant.status_code == 404
    # carol of another domain is another user: she keeps her domain.
    assert call(url, "GET", f"/actors/{actor['id']}", token=assertion(key, user="carol@sd2e.org")).status_code == 404
    dave = call(url, "GET", f"/actors/{actor['id']}", token=assertion(key, user="dave"))
    assert dave.status_code == 404                          # a stranger: existence not leaked
    admin = call(url, "GET", f"/actors/{actor['id']}",
                 token=assertion(key, user="erin", roles="Internal/everyone,Internal/abaco-admin"))
    assert admin.status_code == 200
    limited = call(url, "POST", "/actors", token=assertion(key, user="fred", roles="Internal/abaco-limited"),
                   json={"image": "abaco/echo:local", "max_workers": 2})
    assert limited.status_code == 403
    assert call(url, "DELETE", f"/actors/{actor['id']}", token=assertion(key)).status_code == 200


def test_gateway_refuses_forged_expired_unsigned_and_wrong_tenant(gateway, platform):
    url, key, pub = gateway
    forged = assertion(rsa_key())
    expired = assertion(key, exp_in=-60)
    claims = {USER_CLAIM: "carol", ROLE_CLAIM: "Internal/abaco-admin", "exp": int(time.time()) + 300}
    unsigned = f"{b64(dict(alg='none', typ='JWT'))}.{b64(claims)}."
    # Algorithm confusion: HS256 keyed with the gateway's public key, which anyone may have.
    signing_input = f"{b64(dict(alg='HS256', typ='JWT'))}.{b64(claims)}"
    mac = hmac.new(pub.read_bytes(), signing_input.encode(), hashlib.sha256).digest()
    confused = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    for token, why in ((forged, "another key"), (expired, "expired"), (unsigned, "alg=none"),
                       (confused, "HS256 with the public key")):
        resp = call(url, "GET", "/actors", token=token)
        assert resp.status_code == 401, (why, resp.text)
        assert resp.json()["status"] == "error"
    assert call(url, "GET", "/actors", tenant="NOPE", token=assertion(key)).status_code == 401
    assert call(url, "GET", "/actors").status_code == 401
    # A valid assertion for tenant default, sent as another tenant's header: refused, not re-homed.
    moved = call(url, "GET", "/actors", tenant="SD2E", token=assertion(key, tenant="default"))
    assert moved.status_code == 401 and "tenant" in moved.json()["message"]
    assert call(url, "GET", "/actors", token=assertion(key, tenant=None)).status_code == 401
    # The platform's own bearer tokens are not a gateway's assertion.
    own = requests.get(url + "/actors", headers={"Authorization": f"Bearer {platform.token('alice')}"}, timeout=30)
    assert own.status_code == 401


def test_a_key_per_tenant_binds_the_tenant(platform, tmp_path):
    keys = {"default": rsa_key(), "SD2E": rsa_key()}
    files = []
    for tenant, key in keys.items():
        path = tmp_path / f"{tenant}.pem"
        path.write_bytes(pem_public(key))
        files.append(f"{tenant}={path}")
    url = platform.start_api("api-gateway-keys", {"ABACO_WEB_ACCESS_CONTROL": "jwt_header",
                                                  "ABACO_AUTH_JWT_HEADER_PUBLIC_KEYS": ",".join(files),
                                                  "ABACO_AUTH_TENANTS": "default,SD2E"})
    mine = assertion(keys["SD2E"], tenant=None)               # signed with SD2E's key: no claim needed
    assert call(url, "GET", "/actors", tenant="SD2E", token=mine).status_code == 200
    assert call(url, "GET", "/actors", tenant="DEFAULT", token=mine).status_code == 401
    assert call(url, "GET", "/actors", tenant="DEFAULT", token=assertion(keys["default"], tenant=None)).status_code == 200


# ---------------------------------------------------------------------- mtls

@pytest.fixture(scope="module")
def tls(platform, tmp_path_factory):
    certs = tmp_path_factory.mktemp("certs")
    rogue = tmp_path_factory.mktemp("rogue")
    subprocess.run([str(REPO / "scripts" / "make_certs.sh"), str(certs), "alice", "bob"], check=True,
                   capture_output=True)
    subprocess.run([str(REPO / "scripts" / "make_certs.sh"), str(rogue), "alice"], check=True,
                   capture_output=True)
    api = platform.start_api("api-mtls", {"ABACO_WEB_ACCESS_CONTROL": "mtls", "ABACO_AUTH_MTLS_ADMINS": "bob",
                                          "ABACO_AUTH_TLS_CERT_DIR": str(certs)})
    url = platform.start_tls_proxy("nginx", api, certs, mode="mtls")
    return {"url": url, "api": api, "certs": certs, "rogue": rogue}


def tls_get(tls, path, who=None, ca=None, **kw):
    cert = (str(tls["certs"] / f"{who}.pem"), str(tls["certs"] / f"{who}.key")) if who else None
    return requests.request(kw.pop("method", "GET"), tls["url"] + path, cert=kw.pop("cert", cert),
                            verify=str(ca or tls["certs"] / "ca.pem"), timeout=30, **kw)


def test_client_certificate_names_the_user(tls):
    resp = tls_get(tls, "/actors", method="POST", who="alice", json={"image": "abaco/echo:local"})
    assert resp.status_code == 200, resp.text
    actor = resp.json()["result"]
    assert actor["owner"] == "alice"
    assert tls_get(tls, f"/actors/{actor['id']}", who="bob").status_code == 200   # bob is an admin
    # A state-changing request needs JSON or X-Requested-With: no web page can send it for alice.
    assert tls_get(tls, f"/actors/{actor['id']}", method="DELETE", who="alice").status_code == 403
    assert tls_get(tls, f"/actors/{actor['id']}", method="DELETE", who="alice",
                   headers={"X-Requested-With": "abaco"}).status_code == 200


def test_missing_or_foreign_certificates_and_forged_headers_are_refused(tls):
    none = tls_get(tls, "/actors")
    assert none.status_code == 401 and none.json()["status"] == "error"
    rogue = tls_get(tls, "/actors", cert=(str(tls["rogue"] / "alice.pem"), str(tls["rogue"] / "alice.key")))
    assert rogue.status_code == 401
    # Straight to the API, past nginx, with the headers nginx would set: not believed.
    forged = requests.get(tls["api"] + "/actors", timeout=30, headers={
        "X-Ssl-Client-Verify": "SUCCESS", "X-Ssl-Client-S-Dn": "CN=bob,O=Abaco test"})
    assert forged.status_code == 401
    # Nor when sent through nginx by the client (nginx overwrites them).
    through = tls_get(tls, "/actors", headers={"X-Ssl-Client-Verify": "SUCCESS",
                                               "X-Ssl-Client-S-Dn": "CN=bob", "X-Abaco-Proxy-Secret": "guess"})
    assert through.status_code == 401


def test_metrics_through_the_proxy_need_an_admin(tls):
    assert tls_get(tls, "/metrics").status_code == 401
    assert tls_get(tls, "/metrics", who="alice").status_code == 403
    assert tls_get(tls, "/metrics", who="bob").status_code == 200          # bob is an admin


def test_only_tls_1_3_is_spoken(tls):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(str(tls["certs"] / "ca.pem"))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    host, port = tls["url"].removeprefix("https://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with pytest.raises(ssl.SSLError):
            with context.wrap_socket(raw, server_hostname="localhost"):
                pass


# ---------------------------------------------------------------------- none

def test_none_mode_is_the_dev_user_on_loopback(platform):
    url = platform.start_api("api-none", {"ABACO_WEB_ACCESS_CONTROL": "none"})
    resp = requests.post(url + "/actors", json={"image": "abaco/echo:local"}, timeout=30)
    assert resp.status_code == 200 and resp.json()["result"]["owner"] == "dev"
    actor = resp.json()["result"]["id"]
    # What a web page could send from the user's browser: a form, text/plain, a bare DELETE.
    for kw in ({"data": {"image": "abaco/echo:local"}}, {"data": '{"image": "abaco/echo:local"}',
                                                         "headers": {"Content-Type": "text/plain"}}):
        assert requests.post(url + "/actors", timeout=30, **kw).status_code == 403
    assert requests.delete(url + f"/actors/{actor}", timeout=30).status_code == 403
    assert requests.delete(url + f"/actors/{actor}", headers={"X-Requested-With": "abaco"}, timeout=30).status_code == 200


def test_nonces_work_in_every_mode(platform, gateway, tls):
    actor = platform.register("abaco/echo:local", user="nonce-owner", wait_ready=False)
    nonce = platform.ok("POST", f"/actors/{actor['id']}/nonces", user="nonce-owner", json={"level": "READ"})
    params = {"x-nonce": nonce["id"]}
    gateway_url = gateway[0]
    assert requests.get(f"{gateway_url}/actors/{actor['id']}", params=params, timeout=30).status_code == 200
    assert requests.get(f"{tls['url']}/actors/{actor['id']}", params=params, timeout=30,
                        verify=str(tls["certs"] / "ca.pem")).status_code == 200
    assert requests.get(f"{platform.url}/actors/{actor['id']}", params=params, timeout=30).status_code == 200
    assert requests.get(f"{gateway_url}/actors/{actor['id']}", params={"x-nonce": "nope"}, timeout=30).status_code == 401
