"""Health supervision on real processes: dead workers are reaped and replaced."""

from __future__ import annotations

import os
import signal

import docker
import pytest

from actors.store.redis import RedisBackend

pytestmark = pytest.mark.integration


def worker_docs(platform, actor_id):
    return RedisBackend(platform.config).store("workers").group_docs(actor_id)


def ready_worker(platform, actor_id, exclude=()):
    return platform.wait_for(
        lambda: next((w for w in worker_docs(platform, actor_id)
                      if w["status"] == "READY" and w["id"] not in exclude and w.get("pid")), None),
        timeout=60, what="a READY worker")


def test_killed_idle_worker_is_replaced(platform):
    actor = platform.register("abaco/echo:local")
    old = ready_worker(platform, actor["id"])
    os.kill(old["pid"], signal.SIGKILL)
    new = ready_worker(platform, actor["id"], exclude={old["id"]})
    assert new["id"] != old["id"]
    platform.wait_for(lambda: all(w["id"] != old["id"] for w in worker_docs(platform, actor["id"])),
                      what="the dead worker's record removed")
    eid = platform.ok("POST", f"/actors/{actor['id']}/messages", data={"message": "still here"})["execution_id"]
    assert platform.wait_execution(actor["id"], eid)["status"] == "COMPLETE"


def test_worker_killed_mid_execution_reruns_the_message(platform):
    actor = platform.register("abaco/sleep:local", default_environment={"SLEEP_SECONDS": "4"})
    worker = ready_worker(platform, actor["id"])
    eid = platform.ok("POST", f"/actors/{actor['id']}/messages", data={"message": "x"})["execution_id"]
    platform.wait_for(lambda: platform.execution(actor["id"], eid)["status"] == "RUNNING", what="RUNNING")
    first = platform.execution(actor["id"], eid)
    os.kill(worker["pid"], signal.SIGKILL)
    done = platform.wait_execution(actor["id"], eid, timeout=120)
    assert done["status"] == "COMPLETE"
    assert done["attempts"] == 2
    assert done["worker_id"] != worker["id"]
    assert "attempt 2" in done["status_message"]
    client = docker.from_env()
    platform.wait_for(lambda: not client.containers.list(all=True, filters={"id": first["container_id"]}),
                      timeout=30, what="the orphaned container removed")
