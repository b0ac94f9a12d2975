"""The dashboard's views and forms, through Django's test client, against the real API of
a test platform (tests/conftest.py: API, spawner, health, ... on the real Redis, RabbitMQ
and Docker engine). The dashboard holds no data of its own: every page here is built from
the API with the signed-in user's token."""

from __future__ import annotations

import re
import time

import pytest
from django.test import Client, override_settings

from tests.conftest import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def django_ready(platform):
    from dashboard import settings
    settings.setup(platform.config)
    return platform


def signed_in(platform, user="alice", role="user") -> Client:
    client = Client()
    resp = client.post("/signin", {"token": platform.token(user, role), "next": "/"})
    assert resp.status_code == 302 and resp["Location"] == "/", resp.content[:500]
    return client


def field_errors(html: str) -> str:
    """The text of every error list of the page (next to the fields, or at the form's top)."""
    return " ".join(re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', html, re.S))


@pytest.fixture(scope="module")
def echo_actor(django_ready):
    return django_ready.register("abaco/echo:local", name="dash-echo")


def test_sign_in_with_a_token_keeps_it_on_the_server(django_ready):
    client = Client()
    assert client.get("/")["Location"].startswith("/signin")
    client = signed_in(django_ready)
    cookie = client.cookies["abaco_dashboard"]
    assert django_ready.token() not in cookie.value           # the cookie is only a session id
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == "Lax"
    page = client.get("/")
    assert page.status_code == 200 and b"alice" in page.content


def test_a_forged_token_is_refused_and_signs_nobody_in(django_ready):
    client = Client()
    forged = django_ready.token() [:-4] + "AAAA"
    resp = client.post("/signin", {"token": forged})
    assert resp.status_code == 200 and b"The API refused these credentials" in resp.content
    assert client.get("/")["Location"].startswith("/signin")


def test_sign_in_with_client_credentials_and_a_deleted_client_returns_to_sign_in(django_ready):
    created = django_ready.ok("POST", "/oauth2/clients", json={"name": "dash"}, user="carol")
    client = Client()
    resp = client.post("/signin", {"client_id": created["client_id"], "client_secret": created["client_secret"]})
    assert resp.status_code == 302
    assert client.get("/").status_code == 200
    django_ready.ok("DELETE", f"/oauth2/clients/{created['client_id']}", user="carol")   # revokes its tokens
    resp = client.get("/")
    assert resp.status_code == 302 and "/signin" in resp["Location"] and "reason=expired" in resp["Location"]
    assert client.get("/")["Location"].startswith("/signin?")    # the session was cleared
    # a wrong secret is refused at sign-in
    resp = Client().post("/signin", {"client_id": created["client_id"], "client_secret": "wrong"})
    assert b"The API refused these credentials" in resp.content


def test_an_expired_token_returns_the_user_to_sign_in(django_ready):
    from actors import auth
    client = Client()
    short = auth.issue_token(django_ready.config, "alice", "user", ttl=2)
    assert client.post("/signin", {"token": short})["Location"] == "/"
    assert client.get("/").status_code == 200
    time.sleep(3)
    resp = client.get("/")
    assert resp.status_code == 302 and resp["Location"].startswith("/signin?") and "reason=expired" in resp["Location"]
    assert b"expired or was revoked" in client.get(resp["Location"]).content
    assert client.get("/actors/x/executions/y/logs.json").status_code == 302   # the session is gone


def test_forms_need_the_csrf_token(django_ready):
    client = Client(enforce_csrf_checks=True)
    resp = client.post("/signin", {"token": django_ready.token()})
    assert resp.status_code == 403
    page = client.get("/signin")
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content).group(1).decode()
    resp = client.post("/signin", {"token": django_ready.token(), "csrfmiddlewaretoken": token})
    assert resp.status_code == 302


def test_register_shows_the_api_message_next_to_the_field_then_registers(django_ready):
    client = signed_in(django_ready)
    resp = client.post("/", {"image": "", "name": "x"})
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "&#x27;image&#x27; is required" in field_errors(html)
    # the message sits in the image field's paragraph
    assert re.search(r'id="id_image_error"><li>&#x27;image&#x27; is required', html)
    resp = client.post("/", {"image": "abaco/echo:local", "name": "bad", "max_workers": "many"})
    assert 'id="id_max_workers_error"' in resp.content.decode()
    resp = client.post("/", {"image": "abaco/echo:local", "name": "from-dashboard", "stateless": "on",
                             "default_environment": '{"GREETING": "hi"}'})
    assert resp.status_code == 302
    actor_id = resp["Location"].rsplit("/", 1)[1]
    actor = django_ready.ok("GET", f"/actors/{actor_id}")
    assert actor["name"] == "from-dashboard" and actor["default_environment"] == {"GREETING": "hi"}
    listing = client.get("/", {"q": "from-dash"}).content.decode()
    assert actor_id in listing
    assert actor_id not in client.get("/", {"q": "no-such-thing"}).content.decode()


def test_another_users_actor_is_neither_listed_nor_shown(django_ready, echo_actor):
    client = signed_in(django_ready, user="mallory")
    assert echo_actor["id"] not in client.get("/").content.decode()
    resp = client.get(f"/actors/{echo_actor['id']}")
    assert resp.status_code == 404 and b"No actor found" in resp.content
    assert b"dash-echo" not in resp.content
    resp = client.post(f"/actors/{echo_actor['id']}/send", {"kind": "raw", "message": "x"})
    assert resp.status_code == 404
    # the owner sees it
    assert b"dash-echo" in signed_in(django_ready).get(f"/actors/{echo_actor['id']}").content


def _wait_terminal(platform, actor_id, execution_id):
    return platform.wait_execution(actor_id, execution_id, user="alice")


def test_send_raw_json_and_binary_messages_and_read_the_execution(django_ready, echo_actor):
    client = signed_in(django_ready)
    aid = echo_actor["id"]
    resp = client.post(f"/actors/{aid}/send", {"kind": "raw", "message": "hello from the dashboard",
                                               "environment": "GREETING=hey"})
    assert resp.status_code == 302, resp.content[:800]
    eid = resp["Location"].rsplit("/", 1)[1]
    _wait_terminal(django_ready, aid, eid)
    page = client.get(f"/actors/{aid}/executions/{eid}").content.decode()
    assert "Contents of MSG: hello from the dashboard" in page and "GREETING=hey" in page
    assert "COMPLETE" in page
    polled = client.get(f"/actors/{aid}/executions/{eid}/logs.json").json()
    assert polled["terminal"] and "hello from the dashboard" in polled["logs"]
    # the actor page lists it with its figures
    actor_page = client.get(f"/actors/{aid}").content.decode()
    assert eid in actor_page
    # JSON: checked before sending
    resp = client.post(f"/actors/{aid}/send", {"kind": "json", "message": "{not json"})
    assert resp.status_code == 400 and "Not valid JSON" in field_errors(resp.content.decode())
    resp = client.post(f"/actors/{aid}/send", {"kind": "json", "message": '{"x": 1}'})
    assert resp.status_code == 302
    # a file, sent as a binary message
    from django.core.files.uploadedfile import SimpleUploadedFile
    resp = client.post(f"/actors/{aid}/send", {"kind": "binary", "file": SimpleUploadedFile("d.bin", b"\x00\x01\x02")})
    assert resp.status_code == 302
    # a variable the API refuses: its message is shown
    resp = client.post(f"/actors/{aid}/send", {"kind": "raw", "message": "x", "environment": "LD_PRELOAD=/x.so"})
    assert resp.status_code == 400 and "LD_PRELOAD" in resp.content.decode()


def test_a_synchronous_message_shows_the_answer(django_ready, echo_actor):
    client = signed_in(django_ready)
    resp = client.post(f"/actors/{echo_actor['id']}/send", {"kind": "raw", "message": "sync please",
                                                            "synchronous": "on"})
    assert resp.status_code == 200
    html = resp.content.decode()
    assert 'id="sync-answer"' in html and "Contents of MSG: sync please" in html


def test_plots_of_a_run_come_from_its_samples(django_ready):
    actor = django_ready.register("abaco/sleep:local", name="dash-sleep", default_environment={"SLEEP_SECONDS": "4"})
    client = signed_in(django_ready)
    resp = client.post(f"/actors/{actor['id']}/send", {"kind": "raw", "message": "nap"})
    eid = resp["Location"].rsplit("/", 1)[1]
    running = client.get(f"/actors/{actor['id']}/executions/{eid}").content.decode()
    assert 'data-done="false"' in running and "live-log.js" in running
    record = _wait_terminal(django_ready, actor["id"], eid)
    assert len(record["samples"]["points"]) >= 2
    page = client.get(f"/actors/{actor['id']}/executions/{eid}").content.decode()
    assert page.count("<polyline") == 2 and "CPU over the run" in page and "Memory over the run" in page
    assert "done sleeping" in page


def test_alias_permission_and_nonce_forms(django_ready, echo_actor):
    client = signed_in(django_ready)
    aid = echo_actor["id"]
    resp = client.post(f"/actors/{aid}/do/alias", {"a-alias": "admin"})      # a reserved word: the API says no
    assert resp.status_code == 400 and field_errors(resp.content.decode())
    alias = f"dash-{int(time.time())}"
    assert client.post(f"/actors/{aid}/do/alias", {"a-alias": alias}).status_code == 302
    assert alias in client.get(f"/actors/{aid}").content.decode()
    assert client.post(f"/actors/{aid}/do/permission", {"p-user": "bob", "p-level": "READ"}).status_code == 302
    assert django_ready.ok("GET", f"/actors/{aid}", user="bob")["id"] == aid
    resp = client.post(f"/actors/{aid}/do/nonce", {"n-level": "EXECUTE", "n-max_uses": "5", "n-description": "d"})
    assert resp.status_code == 302
    nonces = django_ready.ok("GET", f"/actors/{aid}/nonces")
    assert any(n["description"] == "d" for n in nonces)
    # bob may read, not update: the page shows the API's refusal, not an error page
    bob = signed_in(django_ready, user="bob")
    resp = bob.post(f"/actors/{aid}/do/permission", {"p-user": "eve", "p-level": "UPDATE"})
    assert resp.status_code == 400 and field_errors(resp.content.decode())


def test_an_api_outage_shows_a_banner_not_an_error_page(django_ready):
    client = signed_in(django_ready)
    with override_settings(ABACO_API_URL=f"http://127.0.0.1:{free_port()}", ABACO_API_TIMEOUT=2):
        resp = client.get("/")
        assert resp.status_code == 503
        assert b'id="outage"' in resp.content and b"not answering" in resp.content
        assert resp.get("Content-Type", "").startswith("text/html")
        assert client.get("/admin/").status_code in (403, 503)
    assert client.get("/").status_code == 200          # and the session survived the outage


def test_a_non_admin_gets_no_admin_page(django_ready):
    client = signed_in(django_ready)
    for page in ("/admin/", "/admin/workers", "/admin/executions", "/admin/accounting",
                 "/admin/accounting/export?format=csv"):
        resp = client.get(page)
        assert resp.status_code == 403 and b'id="forbidden"' in resp.content, page
    assert client.post("/admin/workers", {"actor_id": "x", "worker_id": "y"}).status_code == 403
    assert b"/admin/accounting" not in client.get("/").content     # no admin links either


def test_admin_pages(django_ready, echo_actor):
    eid = django_ready.ok("POST", f"/actors/{echo_actor['id']}/messages", data={"message": "for the admin"})["execution_id"]
    _wait_terminal(django_ready, echo_actor["id"], eid)
    django_ready.wait_for(lambda: django_ready.ok("GET", "/accounting")["total"]["executions"] >= 1, timeout=60,
                          what="an accounting record")
    admin = signed_in(django_ready, user="root", role="admin")
    overview = admin.get("/admin/").content.decode()
    assert "Messages waiting" in overview and "Platform health" in overview
    hosts = django_ready.ok("GET", "/admin/hosts", user="root", role="admin")     # the hosts registry, shown
    assert hosts and all(h["host_id"] in overview for h in hosts) and 'id="hosts"' in overview
    workers = admin.get("/admin/workers").content.decode()
    assert echo_actor["id"] in workers
    executions = admin.get("/admin/executions").content.decode()
    assert echo_actor["id"] in executions
    accounting = admin.get("/admin/accounting").content.decode()
    assert "CPU-hours per day" in accounting and "<svg" in accounting and "alice" in accounting
    bad = admin.get("/admin/accounting", {"since": "not-a-date"})
    assert bad.status_code == 200 and field_errors(bad.content.decode())
    csv = admin.get("/admin/accounting/export", {"format": "csv"})
    assert csv.status_code == 200 and csv.content.startswith(b"job_number,execution_id,")
    assert echo_actor["id"].encode() in csv.content
    assert "attachment" in csv["Content-Disposition"]
    sge = admin.get("/admin/accounting/export", {"format": "sge"})
    assert sge.status_code == 200 and sge.content.count(b":") >= 44


def test_an_admin_stops_a_worker_from_the_workers_page(django_ready):
    actor = django_ready.register("abaco/echo:local", name="dash-stop")
    workers = django_ready.ok("GET", f"/actors/{actor['id']}/workers")
    admin = signed_in(django_ready, user="root", role="admin")
    resp = admin.post("/admin/workers", {"actor_id": actor["id"], "worker_id": workers[0]["id"]})
    assert resp.status_code == 302 and resp["Location"] == "/admin/workers"
    assert f"Worker {workers[0]['id']} is stopping." in admin.get("/admin/workers").content.decode()
    django_ready.wait_for(lambda: workers[0]["id"] not in
                          [w["id"] for w in django_ready.ok("GET", f"/actors/{actor['id']}/workers")],
                          timeout=60, what="the worker to stop")
