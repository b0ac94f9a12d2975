"""Many compute hosts: the registry's decisions, label routing, and what spawner and health do with them.

In-memory stores, broker and runtime only (tests/unit/conftest.py); the real second
Docker engine and spawner are in tests/faults/test_hosts_failover.py.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from actors import channels, commands, fields, host_labels, hosts, models
from actors import config as config_mod
from actors.codes import ActorStatus, ExecutionStatus, WorkerStatus
from actors.errors import BadRequestError
from actors.message import Message
from actors.runtime.stub import StubRuntime
from actors.services.health import Health
from actors.services.spawner import Spawner


def ago(seconds: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def an_actor(stores, **changes) -> dict:
    actor = models.new_actor({"image": "abaco/echo:local"}, "alice", "default", 4)
    actor.update({"status": ActorStatus.READY, "max_workers": 4, **changes})
    stores.actors.put(actor["id"], actor)
    return actor


def a_worker(stores, actor, host: str, **changes) -> dict:
    worker = models.new_worker(actor, host_id=host)
    worker.update({"status": WorkerStatus.READY, "last_health_check_time": ago(0), **changes})
    stores.workers.put(worker["id"], worker, group=actor["id"])
    return worker


def a_host(stores, host: str, silent_for: float, **changes) -> dict:
    record = {"id": host, "labels": [], "queues": ["default"], "capacity": 2, "last_heartbeat": ago(silent_for),
              **changes}
    stores.hosts.put(host, record)
    return record


# ---------------------------------------------------------------- pure decisions

def test_a_host_is_full_at_its_capacity_and_never_with_capacity_zero():
    assert not hosts.is_full(1, 2) and hosts.is_full(2, 2) and hosts.is_full(3, 2)
    assert not hosts.is_full(500, 0)


def test_running_workers_counts_places_held_on_that_host_only(stores):
    actor = an_actor(stores)
    workers = [a_worker(stores, actor, "h1", status=s) for s in
               (WorkerStatus.SPAWNER_SETUP, WorkerStatus.READY, WorkerStatus.BUSY, WorkerStatus.STOPPING,
                WorkerStatus.ERROR)]
    workers.append(a_worker(stores, actor, "", status=WorkerStatus.REQUESTED))   # on no host yet
    workers.append(a_worker(stores, actor, "h2"))
    assert hosts.running_workers(workers, "h1") == 4
    assert hosts.running_workers(workers, "h2") == 1


def test_a_host_is_silent_once_its_heartbeat_is_older_than_the_timeout():
    now = time.time()
    assert hosts.status({"last_heartbeat": ago(5)}, now, 30) == hosts.LIVE
    assert hosts.status({"last_heartbeat": ago(31)}, now, 30) == hosts.SILENT
    assert hosts.status({}, now, 30) == hosts.SILENT        # never beat


def test_lost_workers_are_silent_workers_of_silent_hosts_only(stores):
    actor = an_actor(stores)
    records = [a_host(stores, "dead", 60), a_host(stores, "alive", 1)]
    lost = a_worker(stores, actor, "dead", last_health_check_time=ago(60))
    still_beating = a_worker(stores, actor, "dead", last_health_check_time=ago(1))   # only its spawner died
    on_live = a_worker(stores, actor, "alive", last_health_check_time=ago(60))     # its own health judges it
    unregistered = a_worker(stores, actor, "nowhere", last_health_check_time=ago(600))
    found = hosts.lost_workers([lost, still_beating, on_live, unregistered], records, time.time(), 30)
    assert [w["id"] for w in found] == [lost["id"]]


# ---------------------------------------------------------------- labels and queues

def test_a_host_consumes_the_queue_of_every_subset_of_its_labels(config):
    assert host_labels.subsets(["gpu", "big", "gpu"]) == [(), ("big",), ("gpu",), ("big", "gpu")]
    inst = config.general.instance
    assert channels.command_queue(config, "default") == f"{inst}.command.default"
    # An actor's labels in any order, repeated or not, name one queue.
    assert channels.command_queue(config, "q", ["gpu", "big"]) == channels.command_queue(config, "q", ["big", "gpu"])
    assert channels.command_queue(config, "q", ["gpu", "big"]) == f"{inst}.command.q.on.big+gpu"
    assert host_labels.serves(["gpu", "big"], ["gpu"]) and not host_labels.serves(["big"], ["gpu"])


def test_request_workers_sends_the_start_command_to_the_queue_of_the_actors_labels(config, stores, broker):
    actor = an_actor(stores, queue="batch", host_labels=["gpu"])
    ids = commands.request_workers(config, stores, broker, actor, 1)
    command, = broker.messages(channels.command_queue(config, "batch", ["gpu"]))
    assert command["worker_id"] == ids[0]
    assert broker.messages(channels.command_queue(config, "batch")) == []


def test_the_host_labels_field_is_checked_and_normalised():
    assert fields.validate({"image": "abaco/echo:local", "host_labels": ["zone=a", "gpu", "gpu"]})[
        "host_labels"] == ["gpu", "zone=a"]
    assert fields.validate({"image": "abaco/echo:local", "host_labels": "gpu, big"})["host_labels"] == ["big", "gpu"]
    for bad in (5, "gp u", ["gp u"], ["a+b"], [""], [1], [f"l{i}" for i in range(host_labels.MAX_LABELS + 1)]):
        with pytest.raises(BadRequestError) as exc:
            fields.validate({"image": "abaco/echo:local", "host_labels": bad})
        assert "host_labels" in exc.value.message


def test_host_settings_are_checked_and_the_old_general_host_id_names_its_new_place(tmp_path):
    cfg = config_mod.load(environ={"ABACO_SPAWNER_HOST_ID": "node-7", "ABACO_SPAWNER_HOST_LABELS": "gpu,zone=a",
                                   "ABACO_SPAWNER_MAX_WORKERS_PER_HOST": "8",
                                   "ABACO_HEALTH_HOST_SILENT_AFTER": "12.5"})
    assert (cfg.spawner.host_id, cfg.spawner.host_labels) == ("node-7", ("gpu", "zone=a"))
    assert cfg.spawner.max_workers_per_host == 8 and cfg.health.host_silent_after == 12.5
    with pytest.raises(config_mod.ConfigError, match=r"\[spawner\] host_id"):
        config_mod.load(environ={"ABACO_GENERAL_HOST_ID": "h1"})
    with pytest.raises(config_mod.ConfigError, match="host_id"):
        config_mod.load(environ={"ABACO_SPAWNER_HOST_ID": "bad/host"})
    with pytest.raises(config_mod.ConfigError, match="host label"):
        config_mod.load(environ={"ABACO_SPAWNER_HOST_LABELS": "ok,not ok"})


# ---------------------------------------------------------------- spawner

def test_the_spawner_registers_its_host_and_closes_its_gate_when_full(config, stores, broker):
    config = config.replace(spawner={"host_id": "h1", "host_labels": "gpu", "max_workers_per_host": "2"})
    spawner = Spawner(config, stores, broker, StubRuntime(config.general.instance))
    actor = an_actor(stores)
    a_worker(stores, actor, "h1")
    a_worker(stores, actor, "h2")
    spawner.beat()
    record = stores.hosts.get("h1")
    assert (record["labels"], record["capacity"], record["running"]) == (["gpu"], 2, 1)
    assert spawner.has_room()
    a_worker(stores, actor, "h1", status=WorkerStatus.SPAWNER_SETUP)
    spawner.beat()
    assert not spawner.has_room()
    assert stores.hosts.get("h1")["registered"] == record["registered"]   # kept across heartbeats


def test_a_full_spawner_puts_a_command_back_instead_of_starting_it(config, monkeypatch):
    """serve()'s gate, driven by hand: the message is nacked with requeue, never handled."""
    handled, acked, nacked, cancelled = [], [], [], []

    class Channel:
        def basic_cancel(self, tag):
            cancelled.append(tag)

        def basic_nack(self, tag, requeue):
            nacked.append((tag, requeue))

        def basic_ack(self, tag):
            acked.append(tag)

    class Method:
        delivery_tag, redelivered = 7, False

    class Props:
        headers: dict = {}

    captured = {}

    class Conn:
        is_open = True

        def channel(self):
            return Chan()

        def process_data_events(self, time_limit):
            captured["on_message"](Channel(), Method(), Props(), b'{"command": "start_worker"}')
            stop.set()

        def close(self):
            pass

    class Chan(Channel):
        def basic_qos(self, prefetch_count):
            pass

        def queue_declare(self, **kw):
            pass

        def basic_consume(self, queue, callback):
            captured["on_message"] = callback
            return "tag-1"

    stop = threading.Event()
    full = {"now": False}

    def gate():
        was = full["now"]
        full["now"] = True        # open while consuming starts, full when the message comes
        return not was

    monkeypatch.setattr(channels, "connect", lambda *a, **kw: Conn())
    channels.serve(config, {"q": handled.append}, stop, gate=gate)
    assert handled == [] and acked == []
    assert nacked == [(7, True)] and cancelled == ["tag-1"]


# ---------------------------------------------------------------- health

def test_health_reaps_the_lost_workers_of_a_silent_host_and_asks_for_as_many(config, stores, broker):
    config = config.replace(spawner={"host_id": "h1"}, health={"host_silent_after": "10"})
    actor = an_actor(stores)
    execution = models.new_execution(actor, "bob", "str", 5)
    execution["status"] = ExecutionStatus.RUNNING
    stores.executions.put(execution["id"], execution, group=actor["id"])
    a_host(stores, "h1", 1)
    a_host(stores, "h2", 30)
    mine = a_worker(stores, actor, "h1", pid=os.getpid())
    lost = [a_worker(stores, actor, "h2", status=WorkerStatus.BUSY, pid=os.getpid(), execution_id=execution["id"],
                     last_health_check_time=ago(30)),
            a_worker(stores, actor, "h2", pid=os.getpid(), last_health_check_time=ago(30))]
    # The execution's message was delivered again to h1 while h2's worker looked alive: parked.
    stores.parked.set(execution["id"], Message(execution_id=execution["id"], body=b"hi", content_type="str",
                                               executor="bob").to_bytes())
    done = Health(config, stores, broker, StubRuntime(config.general.instance)).check()
    assert done["lost_workers"] == 2 and done["workers_replaced"] == 2
    assert all(stores.workers.find(w["id"]) is None for w in lost)     # this test's pid was not signalled
    assert stores.workers.find(mine["id"]) is not None
    queued = broker.queues[channels.actor_queue(config, actor["id"])]
    assert [p.body for p in queued] == [b"hi"]
    started = broker.messages(channels.command_queue(config))
    assert len(started) == 2 and {c["actor_id"] for c in started} == {actor["id"]}
    assert len(commands.live_workers(stores, actor["id"])) == 3


def test_health_leaves_workers_of_live_hosts_and_of_its_own_host(config, stores, broker):
    config = config.replace(spawner={"host_id": "h1"}, health={"host_silent_after": "10"})
    actor = an_actor(stores)
    a_host(stores, "h1", 60)          # its own spawner is silent: the pids decide, not the registry
    a_host(stores, "h3", 1)
    mine = a_worker(stores, actor, "h1", pid=os.getpid(), last_health_check_time=ago(5))
    other = a_worker(stores, actor, "h3", last_health_check_time=ago(30))
    done = Health(config, stores, broker, StubRuntime(config.general.instance)).check()
    assert done["lost_workers"] == 0
    assert stores.workers.find(mine["id"]) and stores.workers.find(other["id"])


def test_the_listing_counts_running_workers_and_the_callers_tenant_apart(config, stores):
    mine = an_actor(stores)
    theirs = an_actor(stores, tenant="other")
    a_host(stores, "h1", 1, labels=["gpu"])
    a_host(stores, "h2", 100)
    a_worker(stores, mine, "h1")
    a_worker(stores, theirs, "h1", status=WorkerStatus.BUSY)
    listing = hosts.listing(stores, 30, "default")
    assert [(h["host_id"], h["status"], h["running_workers"], h["tenant_workers"]) for h in listing] == [
        ("h1", "live", 2, 1), ("h2", "silent", 0, 0)]
    assert listing[0]["labels"] == ["gpu"] and listing[0]["capacity"] == 2


def test_a_spawner_consumes_again_once_its_host_has_room(config, monkeypatch):
    """serve() with a closed gate declares its queues but consumes none until the gate opens."""
    events: list[str] = []
    stop = threading.Event()
    answers = iter([False, False, True, True])

    class Chan:
        def basic_qos(self, prefetch_count):
            pass

        def queue_declare(self, queue, **kw):
            events.append(f"declare {queue}")

        def basic_consume(self, queue, callback):
            events.append(f"consume {queue}")
            return "tag"

    class Conn:
        is_open = True

        def channel(self):
            return Chan()

        def process_data_events(self, time_limit):
            events.append("wait")
            if events.count("wait") == 3:
                stop.set()

        def close(self):
            pass

    monkeypatch.setattr(channels, "connect", lambda *a, **kw: Conn())
    channels.serve(config, {"q": lambda d: None}, stop, gate=lambda: next(answers))
    assert events == ["declare q", "wait", "consume q", "wait", "wait"]   # closed at start and once, then open
