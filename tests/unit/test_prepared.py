"""Decisions of the OCI runtime choice and of pipelined cold starts, with in-memory doubles.

The real engine, containers and broker are exercised in tests/integration/test_fast_cold.py.
"""

from __future__ import annotations

import dataclasses
import logging
import threading

from actors import models, prepared
from actors.codes import ActorStatus, ExecutionStatus, WorkerStatus
from actors.message import Message
from actors.runtime import oci_runtime
from actors.runtime.docker import DockerRuntime
from actors.runtime.stub import StubRuntime
from actors.services.worker import Worker

# ------------------------------------------------------------------ runtime choice


def test_the_wanted_runtime_is_used_when_the_engine_has_it():
    said = []
    assert oci_runtime.choose("crun", ["runc", "crun"], "runc", said.append) == "crun"
    assert said == []


def test_a_runtime_the_engine_lacks_falls_back_to_its_default_with_one_line():
    said = []
    assert oci_runtime.choose("crun", ["runc"], "runc", said.append) is None
    assert len(said) == 1 and "no runtime 'crun'" in said[0] and "runc" in said[0]


def test_an_empty_setting_or_the_default_itself_asks_for_nothing():
    assert oci_runtime.choose("", ["runc", "crun"], "runc") is None
    assert oci_runtime.choose("runc", ["runc", "crun"], "runc") is None


def test_engine_runtimes_read_from_docker_info():
    info = {"Runtimes": {"runc": {}, "crun": {"path": "/usr/bin/crun"}}, "DefaultRuntime": "runc"}
    assert oci_runtime.engine_runtimes(info) == (["crun", "runc"], "runc")
    assert oci_runtime.engine_runtimes({}) == ([], "")


class FakeEngine:
    """Stands in for docker-py's client: only ``info``, counted."""

    def __init__(self, runtimes):
        self.runtimes, self.asked = runtimes, 0

    def info(self):
        self.asked += 1
        return {"Runtimes": {name: {} for name in self.runtimes}, "DefaultRuntime": "runc"}


def runtime_with(config, engine) -> DockerRuntime:
    runtime = DockerRuntime.__new__(DockerRuntime)   # no engine connection: the double answers
    runtime.config, runtime.docker, runtime._oci = config, engine, None
    return runtime


def test_the_runtime_asks_the_engine_once_and_logs_a_fallback_once(config, caplog):
    engine = FakeEngine(["runc"])
    runtime = runtime_with(config, engine)
    with caplog.at_level(logging.WARNING):
        assert runtime.oci_runtime() is None
        assert runtime.oci_runtime() is None
    assert engine.asked == 1
    assert len([r for r in caplog.records if "no runtime 'crun'" in r.getMessage()]) == 1
    assert runtime_with(config, FakeEngine(["runc", "crun"])).oci_runtime() == "crun"


# ------------------------------------------------------------------ pipeline


def an_actor(stores, **changes) -> dict:
    actor = models.new_actor({"image": "abaco/echo:local"}, "alice", "default", 2)
    actor.update({"status": ActorStatus.READY, **changes})
    stores.actors.put(actor["id"], actor)
    return actor


def an_execution(stores, actor) -> dict:
    execution = models.new_execution(actor, "bob", "str", 2)
    stores.executions.put(execution["id"], execution, group=actor["id"])
    return execution


class FakeRun:
    """Stands in for ExecutionRun: records what was staged and undone."""

    def __init__(self, execution_id, actor, relay=False, fail=False):
        self.execution_id, self.actor = execution_id, actor
        self.message = Message(execution_id, b"hi", "str", "bob", revision=actor["revision"])
        self.relay, self.fail = relay, fail
        self.staged_for: dict | None = None
        self.unstaged: list[tuple[object, bool]] = []

    def stage(self, execution):
        if self.fail:
            raise OSError("the engine refused")
        self.staged_for = execution
        return "STAGED"

    def unstage(self, staged, remove_container=True):
        self.unstaged.append((staged, remove_container))

    def relay_needed(self):
        return self.relay


def test_a_held_message_is_prepared_for_the_attempt_its_claim_will_make(config, stores):
    actor = an_actor(stores)
    execution = an_execution(stores, actor)
    pipeline = prepared.Pipeline(config, stores)
    run = FakeRun(execution["id"], actor)
    ahead = pipeline.hold(actor, run, 7, 1)
    assert ahead.wait() == "STAGED"
    assert run.staged_for["attempts"] == 1
    assert stores.executions.find(execution["id"])["status"] == ExecutionStatus.SUBMITTED   # not claimed
    assert "worker_id" not in stores.executions.find(execution["id"]) or \
        not stores.executions.find(execution["id"])["worker_id"]


def test_an_execution_that_ended_before_its_preparation_is_not_prepared(config, stores):
    actor = an_actor(stores)
    execution = an_execution(stores, actor)
    stores.executions.update(execution["id"], {"status": ExecutionStatus.ERROR})
    pipeline = prepared.Pipeline(config, stores)
    run = FakeRun(execution["id"], actor)
    assert pipeline.hold(actor, run, 7, 1).wait() is None and run.staged_for is None


def test_a_failed_preparation_leaves_the_message_to_run_unprepared(config, stores):
    actor = an_actor(stores)
    execution = an_execution(stores, actor)
    ahead = prepared.Pipeline(config, stores).hold(actor, FakeRun(execution["id"], actor, fail=True), 7, 1)
    assert ahead.wait() is None


def test_only_plain_fresh_container_executions_are_prepared(config, stores):
    actor = an_actor(stores)
    assert prepared.eligible(config, actor, FakeRun("e", actor))
    assert not prepared.eligible(config, dict(actor, token=True), FakeRun("e", actor))
    assert not prepared.eligible(config, dict(actor, warm=True), FakeRun("e", actor))
    assert not prepared.eligible(config, actor, FakeRun("e", actor, relay=True))
    off = dataclasses.replace(config, workers=dataclasses.replace(config.workers, pipeline=False))
    assert not prepared.eligible(off, actor, FakeRun("e", actor))
    assert prepared.Pipeline(off, stores).prefetch() == 1 and prepared.Pipeline(config, stores).prefetch() == 2


def test_a_preparation_fits_only_the_actor_it_was_made_for(config, stores):
    actor = an_actor(stores)
    execution = an_execution(stores, actor)
    pipeline = prepared.Pipeline(config, stores)
    ahead = pipeline.hold(actor, FakeRun(execution["id"], actor), 7, 1)
    assert pipeline.fits(ahead, dict(actor, cron_next_ex="2030-01-01"))   # scheduling only
    assert not pipeline.fits(ahead, dict(actor, image="abaco/other:local"))
    assert not pipeline.fits(ahead, dict(actor, state={"count": 2}))
    assert not pipeline.fits(ahead, dict(actor, revision=actor["revision"] + 1))


def test_a_purged_held_message_is_reported_ended_and_its_container_removed(config, stores):
    actor = an_actor(stores)
    execution = an_execution(stores, actor)
    pipeline = prepared.Pipeline(config, stores)
    run = FakeRun(execution["id"], actor)
    ahead = pipeline.hold(actor, run, 7, 1)
    assert pipeline.check("w1", now=ahead.held_at + prepared.CHECK_EVERY) is None
    stores.executions.update(execution["id"], {"status": ExecutionStatus.ERROR})     # what a purge does
    assert pipeline.check("w1", now=ahead.held_at + prepared.CHECK_EVERY * 1.5) is None   # not read yet
    assert pipeline.check("w1", now=ahead.held_at + prepared.CHECK_EVERY * 2) == "ended"
    assert pipeline.release() is ahead and pipeline.ahead is None
    pipeline.close()
    assert run.unstaged == [("STAGED", True)]


def test_a_held_message_goes_back_only_when_another_worker_of_the_actor_is_idle(config, stores):
    actor = an_actor(stores)
    me, other = (models.new_worker(actor, host_id="local") for _ in range(2))
    for worker in (me, other):
        stores.workers.put(worker["id"], dict(worker, status=WorkerStatus.BUSY), group=actor["id"])
    pipeline = prepared.Pipeline(config, stores)
    ahead = pipeline.hold(actor, FakeRun(an_execution(stores, actor)["id"], actor), 7, 1)
    late = ahead.held_at + prepared.HOLD_SECONDS + prepared.CHECK_EVERY
    assert pipeline.check(me["id"], now=late) is None                       # nobody else is free
    stores.workers.update(me["id"], {"status": WorkerStatus.READY})
    assert pipeline.check(me["id"], now=late + prepared.CHECK_EVERY) is None  # itself does not count
    stores.workers.update(other["id"], {"status": WorkerStatus.READY})
    ahead.checked_at = 0.0
    assert pipeline.check(me["id"], now=ahead.held_at + prepared.HOLD_SECONDS / 2) is None   # too soon
    assert pipeline.check(me["id"], now=late + 2 * prepared.CHECK_EVERY) is None      # READY once: between two
    stores.workers.update(other["id"], {"status": WorkerStatus.BUSY})
    assert pipeline.check(me["id"], now=late + 3 * prepared.CHECK_EVERY) is None
    stores.workers.update(other["id"], {"status": WorkerStatus.READY})
    assert pipeline.check(me["id"], now=late + 4 * prepared.CHECK_EVERY) is None
    assert pipeline.check(me["id"], now=late + 5 * prepared.CHECK_EVERY) == "overdue"   # READY twice in a row


# ------------------------------------------------------------------ the worker's hook


class FakeChannel:
    is_open = True

    def __init__(self):
        self.acked, self.nacked, self.cancelled = [], [], []

    def basic_ack(self, tag):
        self.acked.append(tag)

    def basic_nack(self, tag, requeue=True):
        self.nacked.append(tag)

    def basic_cancel(self, tag):
        self.cancelled.append(tag)


@dataclasses.dataclass
class Method:
    delivery_tag: int


@dataclasses.dataclass
class Props:
    headers: dict


def busy_worker(config, stores, broker, actor):
    record = models.new_worker(actor, host_id="local")
    record["status"] = WorkerStatus.BUSY
    stores.workers.put(record["id"], record, group=actor["id"])
    worker = Worker(config, actor["id"], record["id"], stores, broker, StubRuntime(), tree=None)
    worker.revision = actor["revision"]
    worker.channel, worker.generation = FakeChannel(), 1
    worker.thread = threading.Thread(target=lambda: None)       # an execution is running
    runs: list[FakeRun] = []
    worker._new_run = lambda actor, message: runs.append(FakeRun(message.execution_id, actor)) or runs[-1]
    return worker, runs


def deliver(worker, actor, tag):
    execution = an_execution(worker.stores, actor)
    message = Message(execution["id"], b"hi", "str", "bob", revision=actor["revision"])
    worker._take(worker.channel, Method(tag), Props(message.headers()), message.body)
    return execution


def test_a_busy_worker_holds_the_next_message_without_settling_or_claiming_it(config, stores, broker):
    actor = an_actor(stores)
    worker, runs = busy_worker(config, stores, broker, actor)
    execution = deliver(worker, actor, 8)
    assert worker.pipeline.ahead is not None and worker.pipeline.ahead.tag == 8
    assert worker.channel.acked == [] and worker.channel.nacked == []
    assert runs[0].execution_id == execution["id"]
    third = deliver(worker, actor, 9)                    # never two held: it goes back
    assert worker.channel.nacked == [9] and runs[-1].execution_id != third["id"]


def test_a_stopping_worker_requeues_its_held_message_and_removes_its_container(config, stores, broker):
    actor = an_actor(stores)
    worker, runs = busy_worker(config, stores, broker, actor)
    execution = deliver(worker, actor, 8)
    worker.begin_stop(kill_running=False, reason="test")
    worker.pipeline.close()
    assert worker.channel.nacked == [8] and worker.pipeline.ahead is None
    assert runs[0].unstaged == [("STAGED", True)]
    assert stores.executions.find(execution["id"])["status"] == ExecutionStatus.SUBMITTED


def test_a_purged_held_message_is_acknowledged_and_never_started(config, stores, broker):
    actor = an_actor(stores)
    worker, runs = busy_worker(config, stores, broker, actor)
    execution = deliver(worker, actor, 8)
    stores.executions.update(execution["id"], {"status": ExecutionStatus.ERROR})
    worker.pipeline.ahead.checked_at -= prepared.CHECK_EVERY
    worker._check_ahead()
    worker.pipeline.close()
    assert worker.channel.acked == [8] and worker.pipeline.ahead is None
    assert runs[0].unstaged == [("STAGED", True)]


def test_a_held_message_of_a_lost_connection_is_dropped_without_settling(config, stores, broker):
    actor = an_actor(stores)
    worker, runs = busy_worker(config, stores, broker, actor)
    deliver(worker, actor, 8)
    channel = worker.channel
    worker._drop_connection()
    worker.pipeline.close()
    assert channel.acked == [] and channel.nacked == []          # the broker requeues it itself
    assert runs[0].unstaged == [("STAGED", True)]


def test_a_held_message_overdue_goes_back_and_the_worker_takes_no_more_until_it_is_idle(config, stores, broker):
    actor = an_actor(stores)
    worker, runs = busy_worker(config, stores, broker, actor)
    idle = models.new_worker(actor, host_id="local")
    stores.workers.put(idle["id"], dict(idle, status=WorkerStatus.READY), group=actor["id"])
    worker.mailbox_tag = "ctag"
    deliver(worker, actor, 8)
    worker.pipeline.ahead.held_at -= prepared.HOLD_SECONDS + 1
    worker._check_ahead()
    assert worker.channel.nacked == []                       # the other worker seen idle once only
    worker.pipeline.ahead.checked_at -= prepared.CHECK_EVERY
    worker._check_ahead()
    worker.pipeline.close()
    assert worker.channel.cancelled == ["ctag"] and worker.mailbox_tag is None
    assert worker.channel.nacked == [8] and runs[0].unstaged == [("STAGED", True)]


def test_a_held_message_runs_prepared_on_its_turn_unless_the_actor_changed(config, stores, broker):
    actor = an_actor(stores)
    worker, runs = busy_worker(config, stores, broker, actor)
    deliver(worker, actor, 8)
    worker.thread = None
    stores.workers.update(worker.worker_id, {"status": WorkerStatus.READY})
    begun = []
    worker._begin = lambda channel, actor, run, tag, ahead=None: begun.append((run, tag, ahead))
    worker._promote()
    assert begun[0][0] is runs[0] and begun[0][1] == 8 and begun[0][2] is not None

    worker.thread = threading.Thread(target=lambda: None)   # running it, the next one is held
    deliver(worker, actor, 9)
    stores.actors.update(actor["id"], {"image": "abaco/other:local"})     # then the actor is updated
    worker.thread = None
    worker._promote()
    worker.pipeline.close()
    assert begun[1][1] == 9 and begun[1][2] is None and begun[1][0] is runs[2]
    assert runs[1].unstaged == [("STAGED", True)]
    assert runs[2].actor["image"] == "abaco/other:local"


def test_a_held_message_still_counts_as_waiting_in_the_mailbox(config, stores, broker):
    from actors import channels, mailbox
    actor = an_actor(stores)
    worker, runs = busy_worker(config, stores, broker, actor)
    broker.publish(channels.actor_queue(config, actor["id"]), b"queued")
    assert mailbox.waiting(config, stores, broker, actor["id"]) == 1
    execution = deliver(worker, actor, 8)                     # taken off the queue, held by the worker
    assert stores.workers.find(worker.worker_id)[prepared.HELD] == execution["id"]
    assert mailbox.waiting(config, stores, broker, actor["id"]) == 2
    worker.begin_stop(kill_running=False, reason="test")     # given back: the queue counts it again
    worker.pipeline.close()
    assert not stores.workers.find(worker.worker_id).get(prepared.HELD)
    assert mailbox.waiting(config, stores, broker, actor["id"]) == 1
