"""What the spawner, health and worker processes decide, on in-memory stores, broker and runtime.

No service runs here: the processes get ``store/memory.py``, ``stub_broker.StubBroker``
and ``runtime/stub.StubRuntime`` in place of Redis, RabbitMQ and Docker, the way their
``main()`` would give them the real ones.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest

from actors import channels, commands, models
from actors.codes import ActorStatus, ExecutionStatus, WorkerStatus
from actors.message import Message
from actors.runtime.stub import StubRuntime
from actors.services.health import Health
from actors.services.spawner import Spawner
from actors.services.worker import Worker


def ago(seconds: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def an_actor(stores, image="abaco/echo:local", **changes) -> dict:
    actor = models.new_actor({"image": image}, "alice", "default", 2)
    actor.update({"status": ActorStatus.READY, **changes})
    stores.actors.put(actor["id"], actor)
    return actor


def a_worker(stores, actor, **changes) -> dict:
    worker = models.new_worker(actor, host_id="local")
    worker.update(changes)
    stores.workers.put(worker["id"], worker, group=actor["id"])
    return worker


# ---------------------------------------------------------------- spawner

class FakeProcess:
    pid = 0

    def poll(self):
        return None


def spawner_for(config, stores, broker, images=("abaco/echo:local",)):
    spawner = Spawner(config, stores, broker, StubRuntime(config.general.instance, images))
    spawner.sleep = lambda seconds: None
    return spawner


def test_spawner_starts_a_requested_worker_and_makes_the_actor_ready(config, stores, broker):
    actor = an_actor(stores, status=ActorStatus.SUBMITTED)
    worker = a_worker(stores, actor)
    spawner = spawner_for(config, stores, broker)
    launched = []

    def launch(actor_id, worker_id):
        launched.append(worker_id)
        stores.workers.update(worker_id, {"status": WorkerStatus.READY})   # as the worker process would
        return FakeProcess()
    spawner._launch = launch
    spawner.on_command(channels.Delivery("q", b"", {"command": "start_worker", "actor_id": actor["id"],
                                                    "worker_id": worker["id"]}, redelivered=False))
    assert launched == [worker["id"]]
    assert stores.actors.get(actor["id"])["status"] == ActorStatus.READY
    assert [e["event_type"] for e in broker.events] == ["ACTOR_READY"]
    assert stores.installations.get(f"worker:{worker['id']}")["status"] == "CREATED"


def test_spawner_puts_the_actor_in_error_when_its_image_is_missing(config, stores, broker):
    actor = an_actor(stores, image="nowhere/missing:1", status=ActorStatus.SUBMITTED)
    worker = a_worker(stores, actor)
    spawner = spawner_for(config, stores, broker)
    spawner._launch = lambda *a: pytest.fail("no worker may start without its image")
    spawner.start_worker({"actor_id": actor["id"], "worker_id": worker["id"]})
    stored = stores.actors.get(actor["id"])
    assert stored["status"] == ActorStatus.ERROR and "was not found" in stored["status_message"]
    assert stores.workers.find(worker["id"]) is None
    assert broker.events[-1]["event_type"] == "ACTOR_ERROR"


def test_spawner_skips_a_worker_no_longer_requested_and_drops_an_old_revision(config, stores, broker):
    actor = an_actor(stores)
    busy = a_worker(stores, actor, status=WorkerStatus.BUSY)
    old = a_worker(stores, actor, revision=0)
    spawner = spawner_for(config, stores, broker)
    spawner._launch = lambda *a: pytest.fail("nothing to launch")
    spawner.start_worker({"actor_id": actor["id"], "worker_id": busy["id"]})
    assert stores.workers.get(busy["id"])["status"] == WorkerStatus.BUSY
    spawner.start_worker({"actor_id": actor["id"], "worker_id": old["id"]})
    assert stores.workers.find(old["id"]) is None
    assert channels.worker_queue(config, old["id"]) in broker.deleted


# ---------------------------------------------------------------- health

def health_for(config, stores, broker, runtime=None):
    return Health(config, stores, broker, runtime or StubRuntime(config.general.instance))


def test_health_reaps_a_worker_whose_process_is_gone_and_queues_its_parked_duplicate(config, stores, broker):
    actor = an_actor(stores)
    execution = models.new_execution(actor, "bob", "str", 5)
    execution["status"] = ExecutionStatus.RUNNING
    stores.executions.put(execution["id"], execution, group=actor["id"])
    dead = a_worker(stores, actor, status=WorkerStatus.BUSY, pid=2 ** 22 + 7, execution_id=execution["id"])
    runtime = StubRuntime(config.general.instance)
    runtime.add_container("c1", worker_id=dead["id"], execution_id=execution["id"])
    message = Message(execution_id=execution["id"], body=b"hello", content_type="str", executor="bob")
    stores.parked.set(execution["id"], message.to_bytes())
    done = health_for(config, stores, broker, runtime).check()
    assert done["dead_workers"] == 1 and stores.workers.find(dead["id"]) is None
    assert "c1" in runtime.removed
    queued = broker.queues[channels.actor_queue(config, actor["id"])]
    assert [p.body for p in queued] == [b"hello"] and queued[0].headers["execution_id"] == execution["id"]
    assert stores.parked.get(execution["id"]) is None


def test_health_leaves_a_live_worker_and_a_starting_one_within_its_grace(config, stores, broker):
    actor = an_actor(stores)
    alive = a_worker(stores, actor, status=WorkerStatus.READY, pid=os.getpid(), last_health_check_time=ago(1))
    starting = a_worker(stores, actor, status=WorkerStatus.SPAWNER_SETUP, last_health_check_time=ago(5))
    done = health_for(config, stores, broker).check()
    assert done["dead_workers"] == 0
    assert stores.workers.find(alive["id"]) and stores.workers.find(starting["id"])


def test_health_keeps_a_live_workers_warm_container_and_removes_a_gone_ones(config, stores, broker):
    actor = an_actor(stores)
    alive = a_worker(stores, actor, status=WorkerStatus.READY, pid=os.getpid(), last_health_check_time=ago(1))
    runtime = StubRuntime(config.general.instance)
    runtime.add_container("warm-live", worker_id=alive["id"], warm="1")          # no execution label
    runtime.add_container("warm-gone", worker_id="a-worker-that-is-gone", warm="1")
    health_for(config, stores, broker, runtime).check()
    assert runtime.removed == ["warm-gone"]


def test_health_reaps_a_silent_worker_and_requests_a_new_one(config, stores, broker):
    actor = an_actor(stores)
    silent = a_worker(stores, actor, status=WorkerStatus.READY, pid=os.getpid(),
                      last_health_check_time=ago(config.health.worker_dead_after + 5))
    health = health_for(config, stores, broker)
    health._reap = lambda worker: stores.workers.delete(worker["id"])   # never signal this test's own pid
    done = health.check()
    assert done["dead_workers"] == 1 and done["workers_requested"] == 1
    command, = broker.messages(channels.command_queue(config))
    assert command["command"] == "start_worker" and command["actor_id"] == actor["id"]
    assert command["worker_id"] != silent["id"]


def test_health_leaves_an_autoscaled_actor_at_zero_workers_to_the_autoscaler(config, stores, broker):
    scaled = an_actor(stores, autoscale=True)
    plain = an_actor(stores)
    done = health_for(config, stores, broker).check()
    assert done["workers_requested"] == 1
    assert [c["actor_id"] for c in broker.messages(channels.command_queue(config))] == [plain["id"]]
    # With the autoscaler switched off, health restores a worker as for any actor.
    off = config.replace(autoscaler={"enabled": False})
    assert health_for(off, stores, broker).check()["workers_requested"] == 1
    assert broker.messages(channels.command_queue(config))[-1]["actor_id"] == scaled["id"]


def test_health_stops_idle_workers_past_their_ttl_but_keeps_one_for_a_sync_actor(config, stores, broker):
    config = config.replace(workers={"worker_ttl": 60})
    plain, warm = an_actor(stores), an_actor(stores, hints=["sync"])
    for actor in (plain, warm):
        for _ in range(2):
            a_worker(stores, actor, status=WorkerStatus.READY, pid=os.getpid(), last_health_check_time=ago(0),
                     last_execution_time=ago(600), create_time=ago(600))
    assert health_for(config, stores, broker).check()["idle_stopped"] == 3
    stops = [q for q, msgs in broker.queues.items() if ".worker." in q for m in msgs]
    assert len(stops) == 3


# ---------------------------------------------------------------- worker

class FakeChannel:
    def __init__(self):
        self.acked, self.nacked = [], []

    def basic_ack(self, tag):
        self.acked.append(tag)

    def basic_nack(self, tag, requeue=True):
        self.nacked.append(tag)

    def basic_cancel(self, tag):
        pass


class FakeMethod:
    delivery_tag = 7
    redelivered = False


class Props:
    def __init__(self, message: Message):
        self.headers = message.headers()


def worker_for(config, stores, broker, actor, **changes):
    record = a_worker(stores, actor, status=WorkerStatus.READY, **changes)
    worker = Worker(config, actor["id"], record["id"], stores, broker, StubRuntime(), tree=None)
    worker.revision = actor["revision"]
    return worker


def deliver(worker, actor, revision=None):
    execution = models.new_execution(actor, "bob", "str", 2)
    worker.stores.executions.put(execution["id"], execution, group=actor["id"])
    message = Message(execution["id"], b"hi", "str", "bob", revision=revision or actor["revision"])
    channel = FakeChannel()
    worker._take(channel, FakeMethod(), Props(message), message.body)
    return channel


def test_worker_leaves_a_message_of_a_newer_revision_to_newer_workers_and_stops(config, stores, broker):
    actor = an_actor(stores)
    worker = worker_for(config, stores, broker, actor)
    channel = deliver(worker, actor, revision=actor["revision"] + 1)
    assert channel.nacked == [7] and worker.stopping and worker.current is None


def test_worker_of_a_deleted_actor_acknowledges_and_stops(config, stores, broker):
    actor = an_actor(stores)
    worker = worker_for(config, stores, broker, actor)
    stores.actors.delete(actor["id"])
    channel = deliver(worker, actor)
    assert channel.acked == [7] and worker.stopping


def test_worker_that_is_not_ready_puts_the_message_back(config, stores, broker):
    actor = an_actor(stores)
    worker = worker_for(config, stores, broker, actor)
    stores.workers.update(worker.worker_id, {"status": WorkerStatus.BUSY})
    channel = deliver(worker, actor)
    assert channel.nacked == [7] and worker.current is None


def test_a_stopping_worker_takes_no_message(config, stores, broker):
    actor = an_actor(stores)
    worker = worker_for(config, stores, broker, actor)
    worker.begin_stop(kill_running=False, reason="test")
    channel = deliver(worker, actor)
    assert channel.nacked == [7]
    assert stores.workers.get(worker.worker_id)["status"] == WorkerStatus.STOPPING


def test_requests_never_exceed_max_workers(config, stores, broker):
    actor = an_actor(stores, max_workers=2)
    assert len(commands.ensure_workers(config, stores, broker, actor, 5)) == 2
    assert commands.ensure_workers(config, stores, broker, actor, 5) == []
    broker.down = True
    other = an_actor(stores)
    with pytest.raises(channels.ChannelUnavailable):
        commands.request_workers(config, stores, broker, other, 1)
    assert stores.workers.group(other["id"]) == []       # nothing half-written
