"""Health repairs what would otherwise stay stuck: lost first workers, hung BUSY workers,
parked duplicate deliveries, idle workers past worker_ttl; workers survive a lost channel."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from actors import channels, models, times
from actors.channels import Broker
from actors.codes import ActorStatus, ExecutionStatus, WorkerStatus
from actors.message import Message
from actors.runtime.docker import DockerRuntime
from actors.services.health import Health
from actors.store import open_stores

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def ago(seconds: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def stores(platform):
    return open_stores(platform.config)


def test_actor_whose_first_worker_was_lost_gets_one(platform, stores):
    actor = platform.register("abaco/echo:local", wait_ready=False)
    platform.wait_for(lambda: platform.ok("GET", f"/actors/{actor['id']}")["status"] == "READY", what="READY")
    # As if the spawner had died with the command: SUBMITTED for long, no worker at all.
    for worker in stores.workers.group_docs(actor["id"]):
        stores.workers.delete(worker["id"])          # its process notices and exits
    stores.actors.update(actor["id"], {"status": ActorStatus.SUBMITTED, "last_update_time": ago(3600)})
    stuck = {"id": "stuck" + models.new_id(6), "actor_id": actor["id"], "status": WorkerStatus.REQUESTED,
             "create_time": ago(3600), "revision": actor["revision"], "host_id": platform.config.spawner.host_id}
    stores.workers.put(stuck["id"], stuck, group=actor["id"])
    platform.wait_for(lambda: stores.workers.find(stuck["id"]) is None, timeout=30,
                      what="the stuck REQUESTED worker to be reaped")
    platform.wait_for(lambda: platform.ok("GET", f"/actors/{actor['id']}")["status"] == "READY", timeout=90,
                      what="the actor to get a worker and be READY")


def test_parked_duplicate_runs_again_when_its_first_worker_dies(platform, stores):
    actor = platform.register("abaco/echo:local", max_workers=1)
    holder = subprocess.Popen(["sleep", "600"])          # stands in for the first worker's process
    try:
        execution = models.new_execution(actor, "alice", "str", 5)
        execution.update({"status": ExecutionStatus.RUNNING, "worker_id": "firstworker1", "attempts": 1})
        stores.executions.put(execution["id"], execution, group=actor["id"])
        stores.workers.put("firstworker1", {
            "id": "firstworker1", "actor_id": actor["id"], "status": WorkerStatus.BUSY, "pid": holder.pid,
            "execution_id": execution["id"], "host_id": platform.config.spawner.host_id,
            "last_health_check_time": times.now(), "last_execution_time": times.now(),
            "create_time": times.now(), "revision": actor["revision"]}, group=actor["id"])
        message = Message(execution["id"], b"again", "str", "alice", revision=actor["revision"])
        broker = channels.Broker(platform.config)
        broker.publish(channels.actor_queue(platform.config, actor["id"]), message.body,
                       headers=message.headers(), content_type="str")
        platform.wait_for(lambda: stores.parked.get(execution["id"]) is not None, timeout=30,
                          what="the duplicate delivery to be parked")
        assert stores.executions.get(execution["id"])["status"] == ExecutionStatus.RUNNING
    finally:
        holder.kill()
        holder.wait()
    done = platform.wait_execution(actor["id"], execution["id"], timeout=90)
    assert done["status"] == "COMPLETE" and done["attempts"] == 2
    assert "attempt 2" in done["status_message"]
    assert stores.parked.get(execution["id"]) is None
    logs = platform.ok("GET", f"/actors/{actor['id']}/executions/{execution['id']}/logs")["logs"]
    assert "Contents of MSG: again" in logs


def test_idle_workers_past_their_ttl_stop_but_a_sync_actor_keeps_one(platform, stores):
    plain = platform.register("abaco/echo:local", max_workers=2)
    warm = platform.register("abaco/echo:local", max_workers=2, hints=["sync"])
    for actor in (plain, warm):
        platform.ok("POST", f"/actors/{actor['id']}/workers", json={"num": 2})
        platform.wait_for(lambda actor=actor: len([w for w in stores.workers.group_docs(actor["id"])
                                       if w["status"] == WorkerStatus.READY]) == 2, timeout=60, what="two workers")
        for worker in stores.workers.group_docs(actor["id"]):
            stores.workers.update(worker["id"], {"last_execution_time": ago(600), "create_time": ago(600)})
    before = {a["id"]: {w["id"] for w in stores.workers.group_docs(a["id"])} for a in (plain, warm)}
    config = platform.config.replace(workers={"worker_ttl": 60})
    health = Health(config, stores, Broker(config), DockerRuntime(config))
    assert health.check()["idle_stopped"] >= 3
    # (This platform's own health process has no worker_ttl and may start fresh workers.)
    platform.wait_for(lambda: not before[plain["id"]] & {w["id"] for w in stores.workers.group_docs(plain["id"])},
                      timeout=60, what="the plain actor's idle workers to stop")
    platform.wait_for(lambda: len(before[warm["id"]] & {w["id"] for w in stores.workers.group_docs(warm["id"])}) == 1,
                      timeout=60, what="the sync actor to keep one of its workers")
    # A message still runs: it starts a worker for the plain actor.
    eid = platform.ok("POST", f"/actors/{plain['id']}/messages", data={"message": "wake"})["execution_id"]
    assert platform.wait_execution(plain["id"], eid)["status"] == "COMPLETE"


def test_worker_keeps_working_after_losing_its_rabbitmq_connection(platform, stores):
    actor = platform.register("abaco/sleep:local", max_workers=1, default_environment={"SLEEP_SECONDS": "3"})
    eid = platform.ok("POST", f"/actors/{actor['id']}/messages", data={"message": "x"})["execution_id"]
    platform.wait_for(lambda: platform.execution(actor["id"], eid)["status"] == "RUNNING", what="RUNNING")
    worker = next(w for w in stores.workers.group_docs(actor["id"]) if w["status"] == WorkerStatus.BUSY)
    # Close the worker's AMQP connection from the broker's side.
    listing = rabbitmqctl("list_connections", "client_properties", "pid")
    victims = [line.rsplit(None, 1)[1] for line in listing.splitlines() if f"worker {worker['id']}" in line]
    assert victims, listing
    for pid in victims:
        rabbitmqctl("close_connection", pid, "closed by test_supervision")
    done = platform.wait_execution(actor["id"], eid, timeout=90)
    assert done["status"] == "COMPLETE" and done["attempts"] == 1, done
    assert stores.workers.find(worker["id"]) is not None, "the same worker carries on"
    second = platform.ok("POST", f"/actors/{actor['id']}/messages", data={"message": "y"})["execution_id"]
    assert platform.wait_execution(actor["id"], second, timeout=90)["status"] == "COMPLETE"


def rabbitmqctl(*args: str) -> str:
    out = subprocess.run([str(REPO / "scripts" / "stack.sh"), "rabbitmqctl", "-q", *args],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout
