"""The installations registry: what a dead process left half-made is found and cleaned."""

from __future__ import annotations

import subprocess

import pytest

from actors import times
from actors.codes import WorkerStatus
from actors.installations import CREATED, IN_CREATION
from actors.runtime import cgroups
from actors.store import open_stores

pytestmark = pytest.mark.integration


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_half_made_execution_of_a_dead_worker_is_cleaned(platform):
    stores = open_stores(platform.config)
    instance, host = platform.config.general.instance, platform.config.spawner.host_id
    scratch = platform.config.run_dir / "executions" / "halfmade1"
    scratch.mkdir(parents=True)
    (scratch / "results.sock").write_text("")
    cgroup = cgroups.execution_path(instance, "instactor", "halfmade1")
    cgroups.CgroupTree().create(cgroup, cgroups.Limits(pids_max=5))
    stores.installations.put("execution:halfmade1", {
        "kind": "execution", "name": "halfmade1", "parts": {"scratch": str(scratch), "cgroup": cgroup},
        "status": IN_CREATION, "pid": dead_pid(), "host_id": host, "create_time": times.now()}, group=host)
    platform.wait_for(lambda: stores.installations.find("execution:halfmade1") is None, timeout=30,
                      what="health to clean the corrupted installation")
    assert not scratch.exists()
    base = cgroups.ROOT / "pids" if cgroups.version() == 1 else cgroups.ROOT
    assert not (base / cgroup.strip("/")).exists()


def test_a_worker_that_came_up_is_kept_when_its_spawner_died(platform):
    stores = open_stores(platform.config)
    host = platform.config.spawner.host_id
    actor = platform.register("abaco/echo:local")
    worker = next(w for w in stores.workers.group_docs(actor["id"]) if w["status"] == WorkerStatus.READY)
    stores.installations.put(f"worker:{worker['id']}", {
        "kind": "worker", "name": worker["id"], "parts": {"worker_id": worker["id"]},
        "status": IN_CREATION, "pid": dead_pid(), "host_id": host, "create_time": times.now()}, group=host)
    platform.wait_for(lambda: (stores.installations.find(f"worker:{worker['id']}") or {}).get("status") == CREATED,
                      timeout=30, what="health to mark the finished worker CREATED")
    assert stores.workers.find(worker["id"])["status"] == WorkerStatus.READY
    eid = platform.ok("POST", f"/actors/{actor['id']}/messages", data={"message": "x"})["execution_id"]
    assert platform.wait_execution(actor["id"], eid)["status"] == "COMPLETE"


def test_a_worker_whose_spawner_died_half_way_is_removed(platform):
    stores = open_stores(platform.config)
    host = platform.config.spawner.host_id
    actor = platform.register("abaco/echo:local")
    stuck = {"id": "halfworker1", "actor_id": actor["id"], "status": WorkerStatus.SPAWNER_SETUP,
             "host_id": host, "create_time": times.now(), "revision": actor["revision"]}
    stores.workers.put(stuck["id"], stuck, group=actor["id"])
    stores.installations.put("worker:halfworker1", {
        "kind": "worker", "name": "halfworker1", "parts": {"worker_id": "halfworker1"},
        "status": IN_CREATION, "pid": dead_pid(), "host_id": host, "create_time": times.now()}, group=host)
    platform.wait_for(lambda: stores.installations.find("worker:halfworker1") is None, timeout=30,
                      what="health to clean the half-started worker")
    assert stores.workers.find("halfworker1") is None


def test_finished_executions_leave_no_installation(platform):
    stores = open_stores(platform.config)
    actor = platform.register("abaco/echo:local")
    eid = platform.ok("POST", f"/actors/{actor['id']}/messages", data={"message": "x"})["execution_id"]
    platform.wait_execution(actor["id"], eid)
    platform.wait_for(lambda: stores.installations.find(f"execution:{eid}") is None, timeout=15,
                      what="the execution's installation record to go")
