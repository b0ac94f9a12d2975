"""Webhooks go only where the allow-list says, to the address checked, and follow no redirect.

Each attack is next to the legitimate use it must not break. The delivery tests run
real HTTP servers on loopback only: an allowed one on 127.0.0.1 and a forbidden one on
127.0.0.2 that must never see a request.
"""

from __future__ import annotations

import datetime
import json
import logging
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import pytest

from actors import config as config_mod
from actors import webhooks
from actors.errors import BadRequestError
from actors.services import events

DEFAULT = ("127.0.0.1", "localhost", "::1")
REAL_GETADDRINFO = socket.getaddrinfo


def refused(hosts, url: str, match: str) -> None:
    with pytest.raises(BadRequestError, match=match):
        webhooks.check(hosts, url)


def addresses(hosts, url: str) -> list[str]:
    return [str(a) for a in webhooks.check(hosts, url).addresses]


@pytest.fixture
def dns(monkeypatch):
    """Fake names for getaddrinfo: ``dns["name"] = [answers, ...]``, one list per lookup
    (the last one repeats); every lookup is counted in ``dns.calls``."""

    class Fake(dict):
        calls: list[str]

    fake = Fake()
    fake.calls = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in fake:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        fake.calls.append(host)
        answers = fake[host][min(len(fake.calls), len(fake[host])) - 1]
        out = []
        for a in answers:
            family = socket.AF_INET6 if ":" in a else socket.AF_INET
            out.append((family, socket.SOCK_STREAM, 6, "", (a, port, 0, 0) if ":" in a else (a, port)))
        return out

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return fake


# ------------------------------------------------------------------ the URL

def test_a_plain_allowed_url():
    target = webhooks.check(DEFAULT, "http://127.0.0.1:8080/hook?x=1")
    assert [str(a) for a in target.addresses] == ["127.0.0.1"]
    assert (target.host_header, target.port, target.path) == ("127.0.0.1:8080", 8080, "/hook?x=1")
    assert addresses(DEFAULT, "https://[::1]/hook") == ["::1"]


def test_the_backslash_at_attack_is_refused():
    url = "http://127.0.0.2:8080\\@127.0.0.1/"
    # Why it worked: the old check read 127.0.0.1, the sending library connects to 127.0.0.2.
    assert urlparse(url).hostname == "127.0.0.1"
    assert webhooks.urllib3.util.parse_url(url).host == "127.0.0.2"
    refused(DEFAULT, url, "backslash")


@pytest.mark.parametrize("url", ["http://user@127.0.0.1/", "http://127.0.0.2@127.0.0.1/",
                                 "http://a:b@127.0.0.1:80/", "http://@127.0.0.1/"])
def test_user_information_is_refused(url):
    refused(DEFAULT, url, "user information")
    assert addresses(DEFAULT, "http://127.0.0.1/users/@me") == ["127.0.0.1"]   # an @ in the path is fine


@pytest.mark.parametrize("url, match", [
    ("http://127.0.0.1/ x", "whitespace"), ("http://127.0.0.1/\tx", "whitespace"),
    ("http://127.0.0.1\n.evil/", "whitespace"), ("http://127.0.0.1/\x00", "control"),
    ("http://127.0.0.1/\x7f", "control"), ("http://127.0.0.1/caf\u00e9", "non-ASCII"),
    ("http://127.0.0.1\uff20evil/", "non-ASCII"), ("ftp://127.0.0.1/x", "http or https"),
    ("//127.0.0.1/x", "http or https"), ("127.0.0.1:80/x", "http or https"), ("not a url", "whitespace"),
    ("http:///x", "no host"), ("http://[]/x", "not a valid URL"), ("http://127.0.0.1:0/", "port 0"),
    ("http://127.0.0.1:65536/", "port"), ("http://127.0.0.1:99999999/", "port"),
    ("http://127.0.0.1:8o/", "port"), ("http://" + "a" * 3000, "at most 2048"),
])
def test_malformed_urls_are_refused(url, match):
    refused(DEFAULT, url, match)


def test_ports_1_and_65535_are_fine():
    assert webhooks.check(DEFAULT, "http://127.0.0.1:1/").port == 1
    assert webhooks.check(DEFAULT, "HTTPS://127.0.0.1:65535/").port == 65535


# ------------------------------------------------------------------ addresses

@pytest.mark.parametrize("url", ["http://0177.0.0.2/", "http://2130706434/", "http://[::ffff:127.0.0.2]/",
                                 "http://127.0.0.2/", "http://0x7f.0.0.2/", "http://[::ffff:7f00:2]/"])
def test_other_spellings_of_127_0_0_2_are_seen_as_127_0_0_2(url):
    refused(DEFAULT, url, "'127.0.0.2'; webhooks may only name these hosts")
    refused(("*",), url, "127.0.0.2: a loopback address")
    assert addresses(("127.0.0.2",), url) == ["127.0.0.2"]          # listed explicitly: fine


@pytest.mark.parametrize("url", ["http://2130706433/", "http://127.1/", "http://[::ffff:127.0.0.1]/"])
def test_other_spellings_of_an_allowed_ip_are_allowed(url):
    assert addresses(DEFAULT, url) == ["127.0.0.1"]


def test_a_name_resolving_to_a_refused_address_is_refused(dns):
    dns["hooks.example"] = [["93.184.216.34"]]
    assert addresses(("hooks.example",), "https://hooks.example/in") == ["93.184.216.34"]
    assert addresses(("*",), "https://hooks.example/in") == ["93.184.216.34"]
    for answer, kind in (("10.0.0.5", "private"), ("169.254.169.254", "link-local"),
                         ("::ffff:169.254.169.254", "link-local"), ("224.0.0.1", "multicast"),
                         ("0.0.0.0", "unspecified"), ("fe80::1", "link-local"), ("127.0.0.2", "loopback"),
                         ("::1", "loopback"), ("::ffff:10.1.2.3", "private")):
        dns["hooks.example"] = [[answer]]
        refused(("hooks.example",), "https://hooks.example/in", f"which is .*: a {kind} address")
        refused(("*",), "https://hooks.example/in", f"a {kind} address")
    dns["hooks.example"] = [["93.184.216.34", "10.0.0.5"]]       # every address must be allowed
    refused(("hooks.example",), "https://hooks.example/in", "10.0.0.5: a private")
    assert addresses(("hooks.example", "10.0.0.5"), "https://hooks.example/in") == ["93.184.216.34", "10.0.0.5"]


def test_loopback_names_need_loopback_listed(dns):
    dns["hooks.test"] = [["127.0.0.1"]]
    assert addresses(("hooks.test", "127.0.0.1"), "http://hooks.test/") == ["127.0.0.1"]
    assert addresses(("hooks.test", "localhost"), "http://hooks.test/") == ["127.0.0.1"]
    refused(("hooks.test",), "http://hooks.test/", "loopback")
    dns["evil.test"] = [["127.0.0.2"]]
    refused(("*", "127.0.0.1"), "http://evil.test/", "loopback")          # * is for public addresses


def test_a_name_is_resolved_once_per_check(dns):
    dns["hooks.test"] = [["127.0.0.1"]]
    webhooks.check(("hooks.test", "127.0.0.1"), "http://hooks.test:8080/")
    assert dns.calls == ["hooks.test"]
    dns["gone.test"] = [[]]
    refused(("gone.test",), "http://gone.test/", "resolves to no address")


def test_the_allow_list_is_matched_on_names_not_on_their_parts():
    refused(DEFAULT, "http://127.0.0.1.evil.test/", "may only name these hosts")
    refused(DEFAULT, "http://localhost.evil.test/", "may only name these hosts")
    refused(("*",), "http://localhost/", "loopback")


# ------------------------------------------------------------------ delivery to real servers

class Recorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, redirect_to: str = ""):
        self.requests: list[dict] = []
        self.redirect_to = redirect_to
        super().__init__((host, 0), Handler)
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server_address[1]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append({"path": self.path, "host": self.headers.get("Host"), "body": body})
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", self.server.redirect_to)
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST

    def log_message(self, *args):
        pass


@pytest.fixture
def servers():
    forbidden = Recorder("127.0.0.2")
    allowed = Recorder("127.0.0.1", redirect_to=f"http://127.0.0.2:{forbidden.port}/stolen")
    yield allowed, forbidden
    allowed.shutdown()
    forbidden.shutdown()
    allowed.server_close()
    forbidden.server_close()


BODY = json.dumps({"event_type": "EXECUTION_COMPLETE"}).encode()


def test_an_allowed_webhook_arrives(servers):
    allowed, forbidden = servers
    assert webhooks.post(DEFAULT, f"http://127.0.0.1:{allowed.port}/hook", BODY, 5) == 200
    assert allowed.requests == [{"path": "/hook", "host": f"127.0.0.1:{allowed.port}", "body": BODY}]
    assert forbidden.requests == []


def test_the_attack_url_never_reaches_127_0_0_2(servers):
    allowed, forbidden = servers
    url = f"http://127.0.0.2:{forbidden.port}\\@127.0.0.1/"
    with pytest.raises(BadRequestError):
        webhooks.check(DEFAULT, url)
    with pytest.raises(webhooks.DeliveryError, match="backslash"):
        webhooks.post(DEFAULT, url, BODY, 5)
    with pytest.raises(webhooks.DeliveryError, match="127.0.0.2"):
        webhooks.post(DEFAULT, f"http://2130706434:{forbidden.port}/", BODY, 5)
    assert forbidden.requests == [] and allowed.requests == []


def test_a_redirect_to_127_0_0_2_is_not_followed(servers):
    allowed, forbidden = servers
    assert webhooks.post(DEFAULT, f"http://127.0.0.1:{allowed.port}/redirect", BODY, 5) == 302
    assert [r["path"] for r in allowed.requests] == ["/redirect"]
    assert forbidden.requests == []


def test_the_post_goes_to_the_address_checked_with_the_original_host_header(servers, dns):
    allowed, forbidden = servers
    # The first lookup says 127.0.0.1, any later one 127.0.0.2: a client that looked the
    # name up again to connect would reach the forbidden server.
    dns["hooks.test"] = [["127.0.0.1"], ["127.0.0.2"]]
    hosts = ("hooks.test", "127.0.0.1")
    assert webhooks.post(hosts, f"http://hooks.test:{allowed.port}/pinned", BODY, 5) == 200
    assert dns.calls == ["hooks.test"]
    assert allowed.requests[0]["host"] == f"hooks.test:{allowed.port}"
    assert forbidden.requests == []


def test_each_delivery_checks_the_name_again(servers, dns):
    allowed, forbidden = servers
    dns["hooks.test"] = [["127.0.0.1"], ["10.1.2.3"]]        # moved somewhere forbidden after registration
    hosts = ("hooks.test", "127.0.0.1")
    webhooks.check(hosts, f"http://hooks.test:{allowed.port}/")
    with pytest.raises(webhooks.DeliveryError, match="10.1.2.3: a private address"):
        webhooks.post(hosts, f"http://hooks.test:{allowed.port}/", BODY, 5)
    assert allowed.requests == [] and forbidden.requests == []


def test_a_closed_port_is_a_failed_attempt_not_a_crash():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(webhooks.DeliveryError, match="NewConnectionError"):
        webhooks.post(DEFAULT, f"http://127.0.0.1:{port}/", BODY, 2)


# ------------------------------------------------------------------ https: SNI and certificate name

def _certificate(tmp_path, name: str) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


@pytest.fixture
def tls_server(tmp_path):
    cert, key = _certificate(tmp_path, "hooks.test")
    server = Recorder("127.0.0.1")
    names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield server, cert, names
    server.shutdown()
    server.server_close()


def test_https_uses_the_original_name_for_sni_and_the_certificate(tls_server, dns, tmp_path):
    server, cert, names = tls_server
    dns["hooks.test"] = [["127.0.0.1"]]
    dns["other.test"] = [["127.0.0.1"]]
    hosts = ("hooks.test", "other.test", "127.0.0.1")
    assert webhooks.post(hosts, f"https://hooks.test:{server.port}/tls", BODY, 5, ca_certs=cert) == 200
    assert names == ["hooks.test"] and server.requests[0]["host"] == f"hooks.test:{server.port}"
    # The same server under another name: its certificate does not match, nothing is sent.
    with pytest.raises(webhooks.DeliveryError, match="SSLError"):
        webhooks.post(hosts, f"https://other.test:{server.port}/tls", BODY, 5, ca_certs=cert)
    assert len(server.requests) == 1


# ------------------------------------------------------------------ the events process uses it

def _events(**settings) -> events.Events:
    """An Events without its stores and broker: only _to_webhook is used."""
    process = events.Events.__new__(events.Events)
    process.config = config_mod.load(environ={}).replace(events=settings)
    process.terminate = threading.Event()
    return process


def test_the_events_process_posts_through_the_checks(servers, caplog):
    allowed, forbidden = servers
    process = _events(webhook_attempts=1, webhook_timeout=5)
    actor = {"id": "A1", "webhook": f"http://127.0.0.1:{allowed.port}/hook"}
    process._to_webhook(actor, {"event_type": "ACTOR_READY"})
    assert json.loads(allowed.requests[0]["body"]) == {"event_type": "ACTOR_READY"}
    with caplog.at_level(logging.WARNING, logger="events"):
        process._to_webhook(dict(actor, webhook=f"http://127.0.0.1:{allowed.port}/redirect"),
                            {"event_type": "ACTOR_READY"})
        process._to_webhook(dict(actor, webhook=f"http://127.0.0.2:{forbidden.port}\\@127.0.0.1/"),
                            {"event_type": "ACTOR_READY"})
    assert "HTTP 302" in caplog.text and "backslash" in caplog.text
    assert forbidden.requests == []


def test_check_webhook_is_a_400_at_registration():
    config = config_mod.load(environ={})
    webhooks.check(config.events.webhook_hosts, "http://localhost:9000/hook")
    with pytest.raises(BadRequestError, match="backslash"):
        webhooks.check(config.events.webhook_hosts, "http://127.0.0.2:9000\\@127.0.0.1/")
