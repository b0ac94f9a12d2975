"""The autoscaler on the real stack, reading a real Prometheus: a burst scales up, idleness scales to
zero, Prometheus going away falls back to the direct source, and a standby takes over after kill -9.

Short settings keep it bounded: ticks of 1 s, a 6 s stable window, a 2 s panic window, a 2 s
scale-down delay, a 4 s grace before zero, a 3 s lease, and a private Prometheus (rendered by the
project's own renderer) scraping the test API every second.
"""

from __future__ import annotations

import random
import signal
import socket
import subprocess

import pytest
import requests

from actors import credentials, prometheus_config
from actors.readiness import NotReady, wait_until
from tests.conftest import BIN

SETTINGS = {"ABACO_AUTOSCALER_INTERVAL": "1", "ABACO_AUTOSCALER_STABLE_WINDOW": "6",
            "ABACO_AUTOSCALER_PANIC_WINDOW": "2", "ABACO_AUTOSCALER_SCALE_DOWN_DELAY": "2",
            "ABACO_AUTOSCALER_ZERO_GRACE": "4", "ABACO_AUTOSCALER_LEASE_TTL": "3"}


def listen_port() -> int:
    """A free port below the ephemeral range: no outgoing connection takes it before the listener does."""
    rng = random.Random()
    while True:
        port = rng.randint(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


@pytest.fixture
def prometheus_and_autoscalers(platform, tmp_path):
    """A private Prometheus scraping the test API, and two autoscalers (one will stand by)."""
    prom_port, listens = listen_port(), [f"127.0.0.1:{listen_port()}", f"127.0.0.1:{listen_port()}"]
    token = credentials.ensure_scrape_token(platform.config.keys_dir)
    cfg = platform.config.replace(autoscaler={"listen": listens[0], "prometheus_listen": f"127.0.0.1:{prom_port}",
                                              "alertmanager_listen": f"127.0.0.1:{listen_port()}"})
    conf = prometheus_config.render_prometheus(cfg, tmp_path / "prometheus", scrape_interval=1)
    log = open(tmp_path / "prometheus.log", "ab")
    prom = subprocess.Popen(["prometheus", f"--config.file={conf}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}"], stdout=log, stderr=log,
                            start_new_session=True)
    url = f"http://127.0.0.1:{prom_port}"
    wait_until(lambda: requests.get(f"{url}/-/ready", timeout=2).ok, 60, "Prometheus to be ready",
               alive=lambda: prom.poll() is None, logs=[tmp_path / "prometheus.log"])
    platform.stop("autoscaler")      # the fixture's own, with the default settings
    names = ["autoscaler-a", "autoscaler-b"]
    for name, listen in zip(names, listens, strict=True):
        platform.start(name, [str(BIN / "abaco-autoscaler")],
                       dict(SETTINGS, ABACO_AUTOSCALER_PROMETHEUS_URL=url, ABACO_AUTOSCALER_LISTEN=listen))
    try:
        yield {"prometheus": prom, "url": url, "token": token, "listens": dict(zip(names, listens, strict=True))}
    finally:
        if prom.poll() is None:
            prom.terminate()
            prom.wait(30)
        for name in names:
            platform.stop(name)
        platform.start("autoscaler", [str(BIN / "abaco-autoscaler")])


def _decisions(platform, actor_id: str) -> list[dict]:
    return platform.ok("GET", f"/actors/{actor_id}/autoscaling")["decisions"]


def _live(platform, actor_id: str) -> int:
    return sum(1 for w in platform.ok("GET", f"/actors/{actor_id}/workers")
               if w["status"] in ("REQUESTED", "SPAWNER SETUP", "READY", "BUSY"))


def _send(platform, actor_id: str, n: int) -> None:
    for i in range(n):
        platform.ok("POST", f"/actors/{actor_id}/messages", data={"message": f"m{i}"})


def _wait(platform, aid: str, predicate, timeout: float, what: str):
    """Wait for ``predicate``; a failure shows the actor's decisions and workers."""
    try:
        return platform.wait_for(predicate, timeout, interval=0.5, what=what)
    except NotReady as exc:
        raise AssertionError(f"{exc}\ndecisions: {_decisions(platform, aid)}\n"
                             f"workers: {platform.ok('GET', f'/actors/{aid}/workers')}") from None


def _autoscaler_metrics(listen: str, token: str) -> str:
    return requests.get(f"http://{listen}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=5).text


def test_burst_scale_to_zero_fallback_and_takeover(platform, prometheus_and_autoscalers):
    env = prometheus_and_autoscalers
    actor = platform.register("abaco/sleep:local", default_environment={"SLEEP_SECONDS": "1"},
                              max_workers=4, autoscale=True)
    aid = actor["id"]
    # Prometheus scrapes the actor's figures before the burst (the source the decisions name).
    platform.wait_for(lambda: any(d["source"] == "prometheus" for d in _decisions(platform, aid)), 30,
                      what="a decision read from Prometheus")

    _send(platform, aid, 40)
    _wait(platform, aid, lambda: _live(platform, aid) == 4, 60, "4 workers")
    decisions = _decisions(platform, aid)
    ups = [d for d in decisions if d["direction"] == "up"]
    first_up = ups[0]
    at_max = next(d for d in decisions if d["desired"] == 4 and d["direction"] == "up")
    assert at_max["tick"] - first_up["tick"] <= 1, decisions       # the maximum within two ticks
    assert first_up["source"] == "prometheus" and first_up["reason"].startswith("panic"), first_up

    # Prometheus goes away mid-run: the autoscaler scales down (to zero) from the direct source.
    env["prometheus"].send_signal(signal.SIGTERM)
    env["prometheus"].wait(30)
    _wait(platform, aid, lambda: _live(platform, aid) == 0, 120, "0 workers after the grace")
    decisions = _decisions(platform, aid)
    last = decisions[-1]
    assert (last["desired"], last["direction"], last["reason"]) == (0, "down", "no demand for the zero grace period")
    assert last["source"] == "direct"
    assert all(d["desired"] <= 4 for d in decisions)
    holder = last["autoscaler"]
    active = next(name for name in env["listens"] if f"{holder} is active" in platform.log_tail(name, 400))
    text = _autoscaler_metrics(env["listens"][active], env["token"])
    assert "abaco_autoscaler_active 1" in text and 'abaco_autoscaler_source{source="direct"} 1' in text, text

    # kill -9 of the active autoscaler: the standby takes the lease over and scales the next burst.
    platform.stop(active, sig=signal.SIGKILL)
    standby = next(name for name in env["listens"] if name != active)
    _send(platform, aid, 12)
    _wait(platform, aid, lambda: any(d["direction"] == "up" and d["autoscaler"] != holder
                                     for d in _decisions(platform, aid)), 60, "the standby to scale up")
    _wait(platform, aid, lambda: _live(platform, aid) >= 2, 60, "the standby's workers")
    assert "abaco_autoscaler_active 1" in _autoscaler_metrics(env["listens"][standby], env["token"])
    platform.ok("DELETE", f"/actors/{aid}")


def test_autoscaling_decisions_are_tenant_scoped(platform):
    actor = platform.register("abaco/echo:local", wait_ready=False, autoscale=True, max_workers=2)
    mine = platform.request("GET", f"/actors/{actor['id']}/autoscaling")
    assert mine.status_code == 200 and mine.json()["result"]["autoscale"] is True
    # The attack: another tenant's user names the actor; the answer is the unknown actor's 404.
    other = platform.request("GET", f"/actors/{actor['id']}/autoscaling", user="alice", tenant="other")
    assert other.status_code == 404, other.text
    stranger = platform.request("GET", f"/actors/{actor['id']}/autoscaling", user="mallory")
    assert stranger.status_code == 404, stranger.text
    unknown = platform.request("GET", "/actors/doesnotexist/autoscaling")
    assert unknown.status_code == 404 and unknown.json()["status"] == "error"
    platform.ok("DELETE", f"/actors/{actor['id']}")


def test_min_workers_above_max_workers_is_refused(platform):
    resp = platform.request("POST", "/actors", json={"image": "abaco/echo:local", "max_workers": 2,
                                                     "min_workers": 3, "autoscale": True})
    assert resp.status_code == 400 and "min_workers" in resp.json()["message"]
    assert all(a.get("min_workers") != 3 for a in platform.ok("GET", "/actors"))


def test_metrics_need_the_scrape_token_for_every_tenant(platform):
    token = credentials.ensure_scrape_token(platform.config.keys_dir)
    actor = platform.ok("POST", "/actors", json={"image": "abaco/echo:local"}, user="scrape-t2", tenant="t2")
    # The attacks: no token, a wrong bearer token, an ordinary user's token.
    assert platform.request("GET", "/metrics", user=None).status_code in (401, 403)
    wrong = platform.request("GET", "/metrics", user=None, headers={"Authorization": "Bearer " + "0" * 64})
    assert wrong.status_code in (401, 403) and wrong.json()["status"] == "error"
    assert platform.request("GET", "/metrics", user="bob").status_code == 403
    # Prometheus's use: every tenant's figures, by actor, with the new families.
    scrape = platform.request("GET", "/metrics", user=None, headers={"Authorization": f"Bearer {token}"})
    assert scrape.status_code == 200
    assert f'abaco_actor_workers{{actor="{actor["id"]}",status="READY"}}' in scrape.text
    assert 'abaco_command_queue_depth{queue="default"}' in scrape.text
    platform.ok("DELETE", f"/actors/{actor['id']}", user="scrape-t2", tenant="t2")


def test_alertmanager_posts_alerts_to_the_autoscaler(platform, tmp_path):
    """A real AlertManager, rendered from prometheus/alertmanager.yml.in, reaches the autoscaler's webhook."""
    credentials.ensure_scrape_token(platform.config.keys_dir)
    conf = prometheus_config.render_alertmanager(platform.config, tmp_path / "am")
    port = listen_port()
    log = open(tmp_path / "alertmanager.log", "ab")
    am = subprocess.Popen(["prometheus-alertmanager", f"--config.file={conf}", f"--storage.path={tmp_path / 'am'}",
                           f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                          stdout=log, stderr=log, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: requests.get(f"{url}/-/ready", timeout=2).ok, 60, "AlertManager to be ready",
                   alive=lambda: am.poll() is None, logs=[tmp_path / "alertmanager.log"])
        sent = requests.post(f"{url}/api/v2/alerts", timeout=5, json=[
            {"labels": {"alertname": "ActorBacklogWithoutWorker", "actor": "a-test", "abaco_instance": "t"}}])
        assert sent.status_code == 200, sent.text
        platform.wait_for(lambda: "alert webhook: 1 alert(s) (ActorBacklogWithoutWorker)" in
                          platform.log_tail("autoscaler", 200), 60, what="the autoscaler to get the alert")
    finally:
        am.terminate()
        am.wait(30)
