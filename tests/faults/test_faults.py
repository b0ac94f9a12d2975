"""Fault injection on a whole private stack: no accepted message is lost or run twice silently.

The stack (its own Redis, RabbitMQ, API, spawner, health, accounting, clientg and
events, started by scripts/stack.sh under a private instance, ports and a data
directory on a small tmpfs) gets 300 messages for three actors while, in turn: a worker
is killed with -9 mid-execution; the spawner is killed with -9; RabbitMQ is restarted;
Redis is killed with -9 and started again; the API is killed with -9 between requests;
the data directory's disk fills up. Afterwards every message the API accepted (200) has
exactly one terminal execution (COMPLETE, or ERROR with a reason), no container or
execution cgroup is left, and every actor is READY. The counts and each fault's
recovery time are printed (run with -s to see them); recovery times are not asserted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import docker
import pytest
import requests
from faultstack import Stack, wait_for

from actors.codes import EXECUTION_TERMINAL, ExecutionStatus, WorkerStatus
from actors.runtime import cgroups
from actors.store import open_stores

pytestmark = pytest.mark.faults

REPO = Path(__file__).resolve().parents[2]
PER_PHASE = 50
PHASES = ("worker killed", "spawner killed", "RabbitMQ restarted", "Redis killed", "API killed", "disk full")


class Sender:
    """Sends messages round-robin to the actors, noting what was accepted and refused."""

    def __init__(self, stack: Stack, actors: list[str]):
        self.stack, self.actors = stack, actors
        self.accepted: dict[str, str] = {}      # execution id -> actor id
        self.refused: list[int] = []
        self.server_errors: list[str] = []
        self.n = 0

    def send(self) -> None:
        actor = self.actors[self.n % len(self.actors)]
        self.n += 1
        try:
            resp = self.stack.request("POST", f"/actors/{actor}/messages", data={"message": f"m{self.n}"})
        except requests.RequestException:
            self.refused.append(0)           # no answer: not accepted
            return
        if resp.status_code == 200:
            self.accepted[resp.json()["result"]["execution_id"]] = actor
        elif resp.status_code >= 500 and resp.status_code != 503:
            self.server_errors.append(f"{resp.status_code} {resp.text[:200]}")
        else:
            self.refused.append(resp.status_code)

    def send_many(self, count: int, pause: float = 0.02) -> None:
        for _ in range(count):
            self.send()
            time.sleep(pause)


def probe_recovery(stack: Stack, actor: str, started: float) -> float:
    """Seconds from the fault until a new message is accepted and completes."""
    def accepted():
        resp = stack.request("POST", f"/actors/{actor}/messages", data={"message": "probe"}, timeout=30)
        return resp.json()["result"]["execution_id"] if resp.status_code == 200 else None
    eid = wait_for(accepted, 180, "the API to accept a probe message")

    def done():
        resp = stack.request("GET", f"/actors/{actor}/executions/{eid}", timeout=30)
        return resp.status_code == 200 and resp.json()["result"]["status"] == "COMPLETE"
    wait_for(done, 240, "the probe message to complete")
    return time.monotonic() - started


def busy_worker_pid(stack: Stack) -> int | None:
    stores = open_stores(stack.config)
    for _, worker in stores.workers.items():
        if worker.get("status") == WorkerStatus.BUSY and worker.get("pid"):
            return int(worker["pid"])
    return None


def inject(stack: Stack, fault: str) -> None:
    if fault == "worker killed":
        pid = wait_for(lambda: busy_worker_pid(stack), 60, "a busy worker")
        os.killpg(pid, signal.SIGKILL)
    elif fault == "spawner killed":
        os.kill(stack.pid("spawner"), signal.SIGKILL)
        time.sleep(1)
        stack.up()
    elif fault == "RabbitMQ restarted":
        # A clean stop (rabbitmqctl waits for the node to be gone), then wait until epmd
        # has forgotten the node, or the new one finds its name still taken.
        stack.sh("rabbitmqctl", "-q", "stop", str(stack.data / "rabbitmq" / "pid"), timeout=120)
        node = stack.config.general.instance
        wait_for(lambda: node not in subprocess.run(["epmd", "-names"], capture_output=True, text=True).stdout,
                 60, "epmd to forget the RabbitMQ node")
        stack.up()
    elif fault == "Redis killed":
        os.kill(stack.pid("redis"), signal.SIGKILL)
        time.sleep(1)
        stack.up()
    elif fault == "API killed":
        os.killpg(stack.pid("api"), signal.SIGKILL)
        time.sleep(1)
        stack.up()


def fill_disk(stack: Stack, sender: Sender) -> None:
    """Fill the data directory's tmpfs, send while it is full, then free it and restart what stopped."""
    filler = stack.data / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M", "count=1000"], capture_output=True)
    try:
        threads = [threading.Thread(target=sender.send) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        filler.unlink()
    stack.up()


@pytest.mark.timeout(1200)
def test_every_accepted_message_ends_exactly_once(stack):
    assert stack.request("GET", "/actors").status_code == 200
    actors = []
    for image, env in (("abaco/echo:local", {}), ("abaco/echo:local", {}),
                       ("abaco/sleep:local", {"SLEEP_SECONDS": "1"})):
        resp = stack.request("POST", "/actors", json={"image": image, "max_workers": 2, "default_environment": env})
        assert resp.status_code == 200, resp.text
        actors.append(resp.json()["result"]["id"])
    for actor in actors:
        wait_for(lambda actor=actor: stack.request("GET", f"/actors/{actor}").json()["result"]["status"] == "READY",
                 90, f"actor {actor} READY")
        stack.request("POST", f"/actors/{actor}/workers", json={"num": 2})
    sender = Sender(stack, actors)
    recovery = {}
    for fault in PHASES:
        before = threading.Thread(target=sender.send_many, args=(PER_PHASE // 2,))
        before.start()
        time.sleep(1.0)
        started = time.monotonic()
        if fault == "disk full":
            before.join()
            fill_disk(stack, sender)
        elif fault == "API killed":
            before.join()               # between requests
            inject(stack, fault)
        else:
            inject(stack, fault)
            before.join()
        sender.send_many(PER_PHASE - PER_PHASE // 2)
        recovery[fault] = probe_recovery(stack, actors[0], started)

    stores = open_stores(stack.config)

    pending: dict[str, str] = {}

    def all_terminal():
        pending.clear()
        for eid in sender.accepted:
            doc = stores.executions.find(eid) or {}
            if doc.get("status") not in EXECUTION_TERMINAL:
                pending[eid] = f"{doc.get('status', 'missing')} worker={doc.get('worker_id')} " \
                               f"attempts={doc.get('attempts')} actor={doc.get('actor_id')}"
        return not pending or None
    try:
        wait_for(all_terminal, 300, "every accepted message to end", interval=1)
    except Exception:
        print(f"\nfaults: {len(pending)} accepted message(s) not ended; first ones:")
        for eid, what in list(pending.items())[:20]:
            print(f"faults:   {eid}: {what}")
        for name in ("spawner", "health", "workers"):
            path = stack.config.log_dir / f"{name}.log"
            lines = path.read_text(errors="replace").splitlines()[-30:] if path.exists() else []
            print(f"--- {name}.log tail ---\n" + "\n".join(lines))
        raise

    executions = {}
    for actor in actors:
        for doc in stores.executions.group_docs(actor):
            executions[doc["id"]] = doc
    completed = [e for e in sender.accepted if executions[e]["status"] == ExecutionStatus.COMPLETE]
    errored = [e for e in sender.accepted if executions[e]["status"] == ExecutionStatus.ERROR]
    lost = [e for e in sender.accepted if e not in executions]
    duplicates = len(set(executions) - set(sender.accepted)) - len(PHASES)   # beyond the probes
    retried = [e for e in sender.accepted if (executions[e].get("attempts") or 0) > 1]
    print(f"\nfaults: accepted {len(sender.accepted)}, refused {len(sender.refused)} "
          f"(codes {sorted(set(sender.refused))}), completed {len(completed)}, errored with reason "
          f"{len(errored)}, lost {len(lost)}, duplicates {duplicates}, run again as a new attempt {len(retried)}")
    for fault, seconds in recovery.items():
        print(f"faults: recovery after '{fault}': {seconds:.1f} s")

    assert sender.n >= 300 and not sender.server_errors, sender.server_errors
    assert not lost
    assert all(executions[e]["status_message"] for e in errored), [executions[e] for e in errored]
    for e in retried:
        assert "attempt" in executions[e]["status_message"], executions[e]
    # Executions that exist but were never accepted would be duplicates or leftovers; the
    # only others are the recovery probes, which all completed.
    probes = set(executions) - set(sender.accepted)
    assert all(executions[p]["status"] == ExecutionStatus.COMPLETE for p in probes)
    assert len(probes) == len(PHASES)

    def clean():
        running = docker.from_env().containers.list(
            all=True, filters={"label": f"abaco.instance={stack.config.general.instance}"})
        left = [f"{a}/{e}" for a in actors for e in cgroups.children(f"/{stack.config.general.instance}/{a}")]
        ready = all(stack.request("GET", f"/actors/{a}").json()["result"]["status"] == "READY" for a in actors)
        return (not running and not left and ready) or None
    wait_for(clean, 120, "no container or cgroup left and every actor READY", interval=1)
