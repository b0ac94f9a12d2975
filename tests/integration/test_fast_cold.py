"""crun and pipelined cold starts, on the real engine, broker, stores and platform processes.

The platform runs with the defaults (``[workers] runtime = crun``, ``pipeline = true``).
"Ran exactly once" is read from the engine itself: the container ``start`` events that
carry an execution's label.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import time

import docker
import pytest

from actors.runtime.docker import LABEL_EXECUTION, LABEL_INSTANCE, ContainerSpec, DockerRuntime
from actors.store.redis import RedisBackend

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def engine():
    client = docker.from_env()
    yield client
    client.close()


def starts(engine, since: float, execution_id: str) -> int:
    """How many times the engine started a container of this execution since ``since``."""
    events = engine.events(since=int(since) - 1, until=int(time.time()) + 1, decode=True,
                           filters={"type": "container", "event": "start",
                                    "label": f"{LABEL_EXECUTION}={execution_id}"})
    return sum(1 for _ in events)


def containers_of(engine, platform, execution_id: str) -> list:
    return engine.containers.list(all=True, filters={"label": [
        f"{LABEL_INSTANCE}={platform.config.general.instance}", f"{LABEL_EXECUTION}={execution_id}"]})


def the_worker(platform, actor_id: str) -> dict:
    workers = RedisBackend(platform.config).store("workers")
    return platform.wait_for(lambda: next((w for w in workers.group_docs(actor_id)
                                           if w.get("status") in ("READY", "BUSY") and w.get("pid")), None),
                             what="the actor's worker")


def send(platform, actor_id: str, message: str, **env) -> str:
    return platform.ok("POST", f"/actors/{actor_id}/messages", data={"message": message},
                       params=env)["execution_id"]


def running_with_one_prepared(platform, engine, actor_id: str) -> tuple[str, str]:
    """A long execution running and the next one's container created (not started)."""
    first = send(platform, actor_id, "first", SLEEP_SECONDS="8")
    platform.wait_for(lambda: platform.execution(actor_id, first)["status"] == "RUNNING", what="RUNNING")
    second = send(platform, actor_id, "second", SLEEP_SECONDS="1")
    platform.wait_for(lambda: [c.status for c in containers_of(engine, platform, second)] == ["created"],
                      what="the second message's container prepared")
    return first, second


# ------------------------------------------------------------------ crun


def test_executions_run_under_crun_in_their_own_cgroup(platform, engine):
    assert "crun" in engine.info()["Runtimes"]          # make up registers it on the engine it starts
    actor = platform.register("abaco/sleep:local")
    eid = send(platform, actor["id"], "x", SLEEP_SECONDS="3")
    running = platform.wait_for(lambda: (lambda e: e if e["status"] == "RUNNING" else None)(
        platform.execution(actor["id"], eid)), what="RUNNING")
    container = engine.containers.get(running["container_id"])
    assert container.attrs["HostConfig"]["Runtime"] == "crun"
    pid = container.attrs["State"]["Pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        memory = next(line for line in f if ":memory:" in line)
    assert f"/{platform.config.general.instance}/{actor['id']}/{eid}/" in memory
    done = platform.wait_execution(actor["id"], eid)
    assert done["status"] == "COMPLETE" and done["cpu"] > 0 and done["memory_peak"] > 0


def test_a_runtime_the_engine_lacks_gives_its_default_runtime_and_one_log_line(platform, engine, caplog):
    config = dataclasses.replace(platform.config, workers=dataclasses.replace(
        platform.config.workers, runtime="no-such-runtime"))
    runtime = DockerRuntime(config)
    with caplog.at_level(logging.WARNING):
        container = runtime.create(ContainerSpec(
            image="abaco/busybox:local", environment={}, cgroup_parent="",
            labels={LABEL_INSTANCE: config.general.instance, LABEL_EXECUTION: "fallback-check"}))
    try:
        assert container.attrs["HostConfig"]["Runtime"] == engine.info()["DefaultRuntime"]
        assert [r.getMessage() for r in caplog.records if "no-such-runtime" in r.getMessage()]
    finally:
        runtime.remove(container.id)
        runtime.close()


# ------------------------------------------------------------------ pipelining


def test_every_message_runs_once_and_the_next_ones_start_prepared(platform, engine):
    since = time.time()
    actor = platform.register("abaco/echo:local")
    eids = [send(platform, actor["id"], f"message {i}") for i in range(8)]
    for i, eid in enumerate(eids):
        done = platform.wait_execution(actor["id"], eid)
        assert done["status"] == "COMPLETE" and done["attempts"] == 1
        logs = platform.ok("GET", f"/actors/{actor['id']}/executions/{eid}/logs")["logs"]
        assert f"Contents of MSG: message {i}\n" in logs
    assert [starts(engine, since, eid) for eid in eids] == [1] * len(eids)
    log = (platform.config.log_dir / "workers.log").read_text()
    assert any(f"execution {eid} prepared ahead (container " in log for eid in eids[1:])


def test_a_purged_message_s_prepared_container_is_removed_and_never_started(platform, engine):
    since = time.time()
    actor = platform.register("abaco/sleep:local")
    first, second = running_with_one_prepared(platform, engine, actor["id"])
    purged = platform.ok("DELETE", f"/actors/{actor['id']}/messages")
    assert purged["executions_cancelled"] == 1
    platform.wait_for(lambda: not containers_of(engine, platform, second), timeout=30,
                      what="the purged message's prepared container removed")
    assert platform.execution(actor["id"], second)["status"] == "ERROR"
    assert platform.wait_execution(actor["id"], first)["status"] == "COMPLETE"
    assert starts(engine, since, second) == 0 and starts(engine, since, first) == 1


def test_a_stopped_worker_removes_its_prepared_container_and_the_message_runs_later(platform, engine):
    since = time.time()
    actor = platform.register("abaco/sleep:local")
    worker = the_worker(platform, actor["id"])
    first, second = running_with_one_prepared(platform, engine, actor["id"])
    os.killpg(worker["pid"], signal.SIGTERM)          # a worker shut down puts its messages back
    platform.wait_for(lambda: not any(c.status == "created" for c in containers_of(engine, platform, second)),
                      timeout=30, what="the prepared container removed")
    for eid in (first, second):                        # health gives the actor a new worker
        assert platform.wait_execution(actor["id"], eid, timeout=120)["status"] == "COMPLETE"
    assert starts(engine, since, second) == 1
    assert platform.execution(actor["id"], second)["attempts"] == 1


def test_a_worker_killed_with_a_prepared_container_loses_and_repeats_nothing(platform, engine):
    since = time.time()
    actor = platform.register("abaco/sleep:local")
    worker = the_worker(platform, actor["id"])
    first, second = running_with_one_prepared(platform, engine, actor["id"])
    os.kill(worker["pid"], signal.SIGKILL)
    done = [platform.wait_execution(actor["id"], eid, timeout=120) for eid in (first, second)]
    assert [d["status"] for d in done] == ["COMPLETE", "COMPLETE"]
    assert done[0]["attempts"] == 2                    # it was running: run again, and it says so
    assert done[1]["attempts"] == 1 and done[1]["worker_id"] != worker["id"]
    assert starts(engine, since, second) == 1          # its prepared container was never started
    platform.wait_for(lambda: not engine.containers.list(all=True, filters={"label": [
        f"{LABEL_INSTANCE}={platform.config.general.instance}", f"abaco.worker_id={worker['id']}"]}),
        timeout=60, what="the dead worker's containers removed")
