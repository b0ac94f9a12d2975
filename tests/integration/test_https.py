"""The TLS proxy in the jwt mode: HTTPS with the project's CA in front of the API, bearer tokens
passed through, the mtls headers neither needed nor believed; plain HTTP on loopback still works."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def https(platform, tmp_path_factory):
    certs = tmp_path_factory.mktemp("https-certs")
    subprocess.run([str(REPO / "scripts" / "make_certs.sh"), str(certs), "alice"], check=True, capture_output=True)
    url = platform.start_tls_proxy("nginx-jwt", platform.url, certs, mode="jwt")
    return {"url": url, "ca": str(certs / "ca.pem"), "certs": certs}


def bearer(platform, user="alice", role="user"):
    return {"Authorization": f"Bearer {platform.token(user, role)}"}


def test_jwt_mode_over_https_with_the_ca(platform, https):
    made = requests.post(https["url"] + "/actors/v2", json={"image": "abaco/echo:local"},
                         headers=bearer(platform), verify=https["ca"], timeout=30)
    assert made.status_code == 200, made.text
    actor = made.json()["result"]
    assert actor["owner"] == "alice"
    # The links name the HTTPS listener the client used, with its port.
    assert actor["_links"]["self"] == f"{https['url']}/actors/{actor['id']}"
    got = requests.get(f"{https['url']}/actors/{actor['id']}", headers=bearer(platform), verify=https["ca"],
                       timeout=30)
    assert got.status_code == 200 and got.json()["result"]["id"] == actor["id"]
    # Plain HTTP on loopback keeps working, with links of its own.
    plain = platform.ok("GET", f"/actors/{actor['id']}")
    assert plain["_links"]["self"] == f"{platform.url}/actors/{actor['id']}"


def test_no_token_is_refused_and_no_certificate_is_asked(platform, https):
    resp = requests.get(https["url"] + "/actors", verify=https["ca"], timeout=30)
    assert resp.status_code == 401 and resp.json()["status"] == "error"


def test_an_unknown_ca_is_refused_by_the_client(https):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(https["url"] + "/actors", verify=True, timeout=30)


def test_mtls_headers_sent_through_the_proxy_name_nobody(platform, https):
    """A client's certificate headers and a guessed proxy secret are dropped: they make no user."""
    forged = {"X-Ssl-Client-Verify": "SUCCESS", "X-Ssl-Client-S-Dn": "CN=bob,O=Abaco test",
              "X-Abaco-Proxy-Secret": "guess"}
    resp = requests.get(https["url"] + "/actors", headers=forged, verify=https["ca"], timeout=30)
    assert resp.status_code == 401
    # With a real token they change nothing: the caller is the token's user.
    mine = requests.post(https["url"] + "/actors", json={"image": "abaco/echo:local"},
                         headers=dict(forged, **bearer(platform, "carl")), verify=https["ca"], timeout=30)
    assert mine.status_code == 200 and mine.json()["result"]["owner"] == "carl"


def test_the_proxy_config_of_the_jwt_mode_carries_no_secret(platform, https):
    conf = (platform.config.log_dir / "nginx-jwt" / "nginx.conf").read_text()
    secret_file = https["certs"] / "proxy.secret"
    assert not secret_file.exists()
    assert "ssl_client_certificate" not in conf
    assert 'proxy_set_header X-Abaco-Proxy-Secret "";' in conf


def test_a_gateway_assertion_passes_through_unchanged(platform, https, tmp_path):
    """jwt_header mode behind the proxy: X-Jwt-Assertion-<TENANT> reaches the API as sent."""
    from test_access_modes import assertion, pem_public, rsa_key
    key = rsa_key()
    pub = tmp_path / "gateway.pub.pem"
    pub.write_bytes(pem_public(key))
    api = platform.start_api("api-https-gateway", {"ABACO_WEB_ACCESS_CONTROL": "jwt_header",
                                                   "ABACO_AUTH_JWT_HEADER_PUBLIC_KEY": str(pub)})
    url = platform.start_tls_proxy("nginx-gateway", api, https["certs"], mode="jwt_header")
    made = requests.post(url + "/actors", json={"image": "abaco/echo:local"}, verify=https["ca"], timeout=30,
                         headers={"X-Jwt-Assertion-DEFAULT": assertion(key, user="gwen@carbon.super")})
    assert made.status_code == 200, made.text
    assert made.json()["result"]["owner"] == "gwen"
    forged = requests.get(url + "/actors", verify=https["ca"], timeout=30,
                          headers={"X-Jwt-Assertion-DEFAULT": assertion(rsa_key(), user="gwen")})
    assert forged.status_code == 401
