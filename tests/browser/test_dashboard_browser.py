"""The dashboard in a real headless Chromium (Debian's /usr/bin/chromium driven by
Playwright; nothing downloads a browser), against the dashboard process of a test
platform: sign in, register an actor, send it a message, watch its live log reach the last
line, open the execution's plots; an admin stops a worker; a non-admin gets no admin page.
Each test saves screenshots under .ci/artifacts/browser/ (the path is printed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from actors.readiness import wait_until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".ci" / "artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def dashboard(platform):
    url = f"http://127.0.0.1:{platform.config.dashboard.port}"

    def answers():
        return requests.get(url + "/signin", timeout=2).status_code == 200
    platform.wait_ready("dashboard", answers)
    return url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser screenshots: {ARTIFACTS}")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


def shot(page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page, dashboard: str, token: str) -> None:
    page.goto(dashboard + "/signin")
    page.fill("#id_token", token)
    page.click("#signin-form button[type=submit]")
    page.wait_for_url(dashboard + "/")


def test_register_send_watch_the_live_log_and_the_plots(platform, dashboard, page):
    sign_in(page, dashboard, platform.token("br-alice"))
    shot(page, "01-actors")
    page.click("#register summary")
    page.fill("#id_image", "")
    page.fill("#id_name", "no-image")
    page.click("#register-form button[type=submit]")
    assert "is required" in page.inner_text("#id_image_error")          # the API's words, at the field
    shot(page, "02-register-rejected")
    page.fill("#id_image", "abaco/sleep:local")
    page.fill("#id_name", "browser-sleep")
    page.fill("#id_default_environment", '{"SLEEP_SECONDS": "4"}')
    page.click("#register-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/actors/[^/]+$"))
    actor_id = page.url.rsplit("/", 1)[1]
    wait_until(lambda: platform.ok("GET", f"/actors/{actor_id}", user="br-alice")["status"] == "READY", 90,
               "the actor to be READY")
    page.reload()
    assert page.inner_text("#actor-status") == "READY"
    shot(page, "03-actor")
    page.click("#send-link")
    page.fill("#id_message", "hello from chromium")
    page.click("#send-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/executions/[^/]+$"))
    # the log grows while it runs, and reaches the last line
    page.wait_for_function("document.getElementById('live-log').textContent.includes('sleep 1/4')")
    shot(page, "04-execution-running")
    page.wait_for_function("document.getElementById('live-log').textContent.includes('done sleeping')")
    # when it ends the page shows its final record and the plots from its samples
    page.wait_for_selector("#plots svg polyline")
    assert "COMPLETE" in page.inner_text("#exec-state")
    assert page.locator("#plots svg").count() == 2
    assert "MSG: hello from chromium" in page.inner_text("#live-log")
    shot(page, "05-execution-plots")


def test_an_admin_stops_a_worker(platform, dashboard, page):
    actor = platform.register("abaco/echo:local", name="br-stop", user="br-bob")
    worker_id = platform.ok("GET", f"/actors/{actor['id']}/workers", user="br-bob")[0]["id"]
    sign_in(page, dashboard, platform.token("br-root", "admin"))
    page.goto(dashboard + "/admin/")
    assert "Messages waiting" in page.inner_text("main")
    shot(page, "06-admin-overview")
    page.goto(dashboard + "/admin/workers")
    shot(page, "07-admin-workers")
    page.click(f"button[data-worker='{worker_id}']")
    page.wait_for_selector(".notice")
    assert f"Worker {worker_id} is stopping" in page.inner_text(".notice")
    wait_until(lambda: worker_id not in [w["id"] for w in platform.ok("GET", f"/actors/{actor['id']}/workers",
                                                                        user="br-bob")], 60, "the worker to stop")
    page.goto(dashboard + "/admin/executions")
    shot(page, "08-admin-executions")
    page.goto(dashboard + "/admin/accounting")
    assert page.locator("svg.chart").count() == 1
    shot(page, "09-admin-accounting")


def test_a_non_admin_gets_no_admin_page(platform, dashboard, page):
    sign_in(page, dashboard, platform.token("br-carol"))
    assert page.locator("a[href='/admin/']").count() == 0
    for path in ("/admin/", "/admin/workers", "/admin/executions", "/admin/accounting"):
        response = page.goto(dashboard + path)
        assert response.status == 403 and "admins only" in page.inner_text("#forbidden")
    shot(page, "10-non-admin-refused")


# A stream shaped as abaco-logstream sends it (actors/livelog.py): one event per chunk, each
# chunk's text split into data lines, heartbeats, a final end event; given to the page as is,
# so what it shows can be compared exactly.
STREAM = ("id: 1\ndata: first line\ndata: \n\n: heartbeat\n\n"
          "id: 2\ndata: second line\ndata: last line\ndata: \n\n"
          "event: end\ndata: {\"status\": \"COMPLETE\", \"exitCode\": 0}\n\n")


def test_the_page_follows_an_event_stream_and_force_quits(platform, dashboard, page):
    actor = platform.register("abaco/sleep:local", name="br-long", user="br-dave",
                              default_environment={"SLEEP_SECONDS": "90"})
    eid = platform.ok("POST", f"/actors/{actor['id']}/messages", data={"message": "long"}, user="br-dave")["execution_id"]
    wait_until(lambda: platform.execution(actor["id"], eid, user="br-dave")["status"] == "RUNNING", 90, "RUNNING")
    sign_in(page, dashboard, platform.token("br-dave"))
    # the browser gets the stream as the API will send it (Playwright answers the page's request)
    page.route("**/stream", lambda route: route.fulfill(status=200, body=STREAM,
                                                         headers={"Content-Type": "text/event-stream"}))
    page.goto(f"{dashboard}/actors/{actor['id']}/executions/{eid}")
    page.wait_for_function("document.getElementById('exec-state').textContent.includes('COMPLETE (exit code 0)')")
    assert page.inner_text("#live-log") == "first line\nsecond line\nlast line\n"
    shot(page, "11-event-stream")
    page.unroute("**/stream")
    page.goto(f"{dashboard}/actors/{actor['id']}/executions/{eid}")
    page.click("text=Force quit")
    wait_until(lambda: platform.execution(actor["id"], eid, user="br-dave")["status"] in ("COMPLETE", "ERROR"), 60,
               "the force-quit execution to end")
    page.wait_for_function("document.getElementById('exec-state').textContent.includes('ERROR') || "
                           "document.getElementById('exec-state').textContent.includes('COMPLETE')")
    shot(page, "12-force-quit")
