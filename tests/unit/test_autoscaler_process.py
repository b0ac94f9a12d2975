"""The autoscaler process's decisions with in-memory stores and broker: the lease, what a tick
asks of spawners and workers, the sources and their fallback, the webhook's body check."""

from __future__ import annotations

import json

import pytest
import requests

from actors import channels, models
from actors.autoscale_sources import DirectSource, FallbackSource, PrometheusSource, SourceUnavailable
from actors.codes import ActorStatus, WorkerStatus
from actors.services.autoscaler import Autoscaler, Lease, check_alerts


class Clock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def short(config):
    return config.replace(autoscaler={"interval": 1, "stable_window": 6, "panic_window": 2,
                                      "scale_down_delay": 2, "zero_grace": 4, "source": "direct"})


def actor_with_workers(stores, n_ready: int, **fields) -> dict:
    actor = models.new_actor({"image": "abaco/echo:local", "max_workers": 4, "autoscale": True, **fields},
                             owner="alice", tenant="default", default_max_workers=2)
    actor["status"] = ActorStatus.READY
    stores.actors.put(actor["id"], actor)
    for _ in range(n_ready):
        worker = models.new_worker(actor, host_id="local")
        worker["status"] = WorkerStatus.READY
        stores.workers.put(worker["id"], worker, group=actor["id"])
    return actor


def queue_messages(config, broker, actor_id: str, n: int) -> None:
    for i in range(n):
        broker.publish(channels.actor_queue(config, actor_id), f"m{i}".encode())


# ------------------------------------------------------------------ the lease

def test_one_holder_at_a_time_and_the_standby_takes_over_after_expiry(stores):
    clock = Clock()
    active, standby = Lease(stores.autoscaling, "a", 3, clock), Lease(stores.autoscaling, "b", 3, clock)
    assert active.hold() and not standby.hold()
    clock.t += 2
    assert active.hold() and not standby.hold()          # renewed
    clock.t += 3.5                                        # the active one stopped renewing (kill -9)
    assert standby.hold() and not active.hold()
    assert stores.autoscaling.find("lease")["holder"] == "b"


def test_a_released_lease_is_taken_at_once(stores):
    clock = Clock()
    active, standby = Lease(stores.autoscaling, "a", 30, clock), Lease(stores.autoscaling, "b", 30, clock)
    assert active.hold()
    active.release()
    assert standby.hold()


# ------------------------------------------------------------------ ticks

def test_a_burst_requests_workers_up_to_max_and_records_why(config, stores, broker):
    config = short(config)
    actor = actor_with_workers(stores, 1)
    queue_messages(config, broker, actor["id"], 40)
    scaler = Autoscaler(config, stores, broker, FallbackSource([DirectSource(config, stores, broker)]), Clock())
    decision = scaler.tick()[actor["id"]]
    assert (decision.desired, decision.direction) == (4, "up")
    starts = [p.json() for p in broker.queues[channels.command_queue(config, "default")]]
    assert len(starts) == 3 and {s["command"] for s in starts} == {"start_worker"}
    record = stores.autoscaling.find(actor["id"])["decisions"][-1]
    assert (record["desired"], record["current"], record["direction"], record["source"]) == (4, 1, "up", "direct")
    assert record["reason"].startswith("panic")


def test_idle_workers_go_after_the_grace_and_only_idle_ones(config, stores, broker):
    config = short(config)
    actor = actor_with_workers(stores, 3)
    busy = stores.workers.group_docs(actor["id"])[0]
    stores.workers.update(busy["id"], {"status": WorkerStatus.BUSY, "execution_id": "e1"})
    clock = Clock()
    scaler = Autoscaler(config, stores, broker, FallbackSource([DirectSource(config, stores, broker)]), clock)
    stopped: set[str] = set()
    for _ in range(12):
        scaler.tick()
        clock.t += 1
        for w in stores.workers.group_docs(actor["id"]):
            if broker.queues.get(channels.worker_queue(config, w["id"])):
                stopped.add(w["id"])
                stores.workers.update(w["id"], {"status": WorkerStatus.STOPPING})
    assert busy["id"] not in stopped and len(stopped) == 2
    assert "start_worker" not in json.dumps([p.json() for p in broker.queues.get(
        channels.command_queue(config, "default"), [])])


def test_actors_without_autoscale_are_left_alone(config, stores, broker):
    actor = actor_with_workers(stores, 0, autoscale=False)
    queue_messages(config, broker, actor["id"], 10)
    scaler = Autoscaler(short(config), stores, broker, FallbackSource([DirectSource(config, stores, broker)]), Clock())
    assert scaler.tick() == {}
    assert not broker.queues.get(channels.command_queue(config, "default"))


def test_a_full_command_queue_holds_scale_ups(config, stores, broker):
    config = short(config).replace(autoscaler={"command_queue_limit": 5})
    actor = actor_with_workers(stores, 1)
    queue_messages(config, broker, actor["id"], 40)
    for _ in range(5):
        broker.publish_json(channels.command_queue(config, "default"), {"command": "start_worker"})
    scaler = Autoscaler(config, stores, broker, FallbackSource([DirectSource(config, stores, broker)]), Clock())
    decision = scaler.tick()[actor["id"]]
    assert decision.direction == "hold" and decision.reason.startswith("command queue full")
    assert len(broker.queues[channels.command_queue(config, "default")]) == 5


def test_cold_starts_are_timed_from_request_to_ready(config, stores, broker):
    actor = actor_with_workers(stores, 0)
    scaler = Autoscaler(short(config), stores, broker, FallbackSource([DirectSource(config, stores, broker)]), Clock())
    scaler.tick()
    worker = models.new_worker(actor, host_id="local")
    worker.update(status=WorkerStatus.READY, create_time="2026-01-01T00:00:00Z", ready_time="2026-01-01T00:00:02.5Z")
    stores.workers.put(worker["id"], worker, group=actor["id"])
    scaler.tick()
    text = scaler.figures.text()
    assert 'abaco_cold_start_seconds_bucket{le="3.0"} 1' in text
    assert 'abaco_cold_start_seconds_bucket{le="2.0"} 0' in text
    assert "abaco_cold_start_seconds_sum 2.5" in text


# ------------------------------------------------------------------ sources

class Reply:
    def __init__(self, body: dict, status: int = 200):
        self.body, self.status_code = body, status

    def json(self) -> dict:
        return self.body


def prometheus_answering(series_by_query):
    def get(url, params, timeout):
        query = params["query"]
        for prefix, result in series_by_query.items():
            if query.startswith(prefix):
                return Reply({"status": "success", "data": {"result": result}})
        return Reply({"status": "success", "data": {"result": []}})
    return get


def test_prometheus_figures_are_read_per_actor_and_queue(config):
    def sample(name, value, **labels):
        return {"metric": {"__name__": name, **labels}, "value": [0, str(value)]}
    get = prometheus_answering({
        "up{": [sample("up", 1, job="abaco")],
        "{__name__": [sample("abaco_actor_queue_depth", 7, actor="a1"),
                      sample("abaco_actor_workers", 2, actor="a1", status="BUSY"),
                      sample("abaco_actor_workers", 1, actor="a1", status="READY"),
                      sample("abaco_command_queue_depth", 3, queue="default")]})
    reading = PrometheusSource(config, get=get).read(["a1", "a2"], ["default"])
    assert reading.source == "prometheus"
    assert (reading.of("a1").queued, reading.of("a1").running, reading.of("a1").ready) == (7, 2, 3)
    assert reading.of("a2").queued == 0 and reading.command_queues == {"default": 3}


def test_prometheus_that_does_not_scrape_this_instance_is_unavailable(config):
    with pytest.raises(SourceUnavailable):
        PrometheusSource(config, get=prometheus_answering({})).read(["a1"], ["default"])


def test_the_fallback_reads_directly_when_prometheus_does_not_answer(config, stores, broker):
    def refused(url, params, timeout):
        raise requests.ConnectionError("connection refused")
    actor = actor_with_workers(stores, 1)
    queue_messages(config, broker, actor["id"], 2)
    source = FallbackSource([PrometheusSource(config, get=refused), DirectSource(config, stores, broker)])
    reading = source.read([actor["id"]], ["default"])
    assert reading.source == "direct" and reading.of(actor["id"]).queued == 2
    assert "connection refused" in source.last_problem


def test_no_source_at_all_skips_the_tick(config, stores, broker):
    broker.down = True
    source = FallbackSource([DirectSource(config, stores, broker)])
    with pytest.raises(SourceUnavailable):
        source.read(["a1"], ["default"])


# ------------------------------------------------------------------ the webhook body

def test_alertmanager_bodies_are_checked():
    alerts = check_alerts(json.dumps({"version": "4", "status": "firing",
                                      "alerts": [{"labels": {"alertname": "ActorBacklogWithoutWorker"}}]}).encode())
    assert alerts[0]["labels"]["alertname"] == "ActorBacklogWithoutWorker"
    for bad in (b"not json", b"[]", b'{"alerts": "x"}', b'{"alerts": [1]}', b"\xff\xfe"):
        with pytest.raises(ValueError):
            check_alerts(bad)


def test_scale_ups_stay_within_the_owners_worker_quota(config, stores, broker):
    from actors import quotas
    config = short(config).replace(quotas={"max_workers_per_user": 2})
    actor = actor_with_workers(stores, 1)
    stores.actors.put(actor["id"], actor, group=quotas.owner_group("default", "alice"))
    queue_messages(config, broker, actor["id"], 40)
    scaler = Autoscaler(config, stores, broker, FallbackSource([DirectSource(config, stores, broker)]), Clock())
    assert scaler.tick()[actor["id"]].desired == 4
    assert len(broker.queues[channels.command_queue(config, "default")]) == 1    # 2 in all, the quota


def test_the_webhook_and_metrics_need_the_scrape_token_and_a_valid_body(config, stores, broker):
    import random
    import socket

    from actors import credentials
    rng = random.Random()
    while True:
        port = rng.randint(20000, 32000)
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                break
    config = config.replace(autoscaler={"listen": f"127.0.0.1:{port}"})
    token = credentials.ensure_scrape_token(config.keys_dir)
    scaler = Autoscaler(config, stores, broker, FallbackSource([DirectSource(config, stores, broker)]), Clock())
    server = scaler._serve()
    assert server is not None
    try:
        url, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}
        body = {"version": "4", "alerts": [{"labels": {"alertname": "ActorBacklogWithoutWorker"}}]}
        # The attacks: no token, a wrong one.
        assert requests.post(f"{url}/alerts", json=body, timeout=5).status_code == 401
        wrong = requests.post(f"{url}/alerts", json=body, headers={"Authorization": "Bearer x"}, timeout=5)
        assert wrong.status_code == 401 and wrong.json()["status"] == "error"
        assert requests.get(f"{url}/metrics", timeout=5).status_code == 401
        assert not scaler.wake.is_set()
        bad = requests.post(f"{url}/alerts", data=b"{not json", headers=auth, timeout=5)
        assert bad.status_code == 400 and bad.json()["message"] == "the body is not JSON text"
        assert not scaler.wake.is_set()
        good = requests.post(f"{url}/alerts", json=body, headers=auth, timeout=5)
        assert good.status_code == 200 and good.json()["result"] == {"alerts": 1}
        assert scaler.wake.is_set()
        metrics = requests.get(f"{url}/metrics", headers=auth, timeout=5)
        assert metrics.status_code == 200 and "# TYPE abaco_cold_start_seconds histogram" in metrics.text
    finally:
        server.shutdown()
        server.server_close()


def test_a_takeover_goes_on_from_the_same_history(config, stores, broker):
    config = short(config)
    actor = actor_with_workers(stores, 2)
    clock = Clock()
    first = Autoscaler(config, stores, broker, FallbackSource([DirectSource(config, stores, broker)]), clock,
                       holder="first")
    for _ in range(8):                     # 8 quiet seconds: longer than the delay and the grace
        first.tick()
        clock.t += 1
    for queue in [q for q in broker.queues if q.startswith(channels.worker_queue(config, ""))]:
        broker.queues.pop(queue)
    second = Autoscaler(config, stores, broker, FallbackSource([DirectSource(config, stores, broker)]), clock,
                        holder="second")
    decision = second.tick()[actor["id"]]
    assert decision.direction == "down", decision      # a fresh history would have to wait
    assert stores.autoscaling.find(actor["id"])["decisions"][-1]["autoscaler"] == "second"
