"""A compute host dies with work in hand: every message still ends once, on the host that lives.

Host h1 is this machine's Docker engine with the platform's processes (a private
instance: API, spawner, health, accounting, ...). Host h2 is a second Docker engine
started here (actors/runtime/second_engine.py: its own data root, exec root, containerd,
pid file and socket; the test image copied in with ``docker save | docker load``) with
a spawner of its own (``DOCKER_HOST`` pointed at it, ``[spawner] host_id = h2``,
``max_workers_per_host = 2``). The workers of an actor with ``max_workers: 4`` spread
over both hosts; while 100 messages run, h2's spawner, workers and whole engine
(dockerd, containerd, shims, container processes) get SIGKILL at once. Then every
message has exactly one terminal execution (and one accounting line), all that ended
after the kill ended on h1, the lost workers are replaced on h1, and /admin/hosts shows
h2 silent. Counts and the time to drain are printed (-s), not asserted.
"""

from __future__ import annotations

import csv
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

from actors.codes import EXECUTION_TERMINAL, ExecutionStatus, WorkerStatus
from actors.process import kill_group
from actors.runtime.second_engine import SecondEngine
from actors.store import open_stores

pytestmark = pytest.mark.faults

BIN = Path(sys.executable).parent          # the virtualenv's console scripts
MESSAGES = 100
IMAGE = "abaco/sleep:local"
# Quick heartbeats and a short silence, so the failover happens within seconds.
H1 = {"ABACO_SPAWNER_HOST_ID": "h1", "ABACO_SPAWNER_MAX_WORKERS_PER_HOST": "4",
      "ABACO_SPAWNER_HEARTBEAT_INTERVAL": "1", "ABACO_WORKERS_HEARTBEAT_INTERVAL": "1",
      "ABACO_HEALTH_INTERVAL": "1", "ABACO_HEALTH_HOST_SILENT_AFTER": "4"}
H2 = {"ABACO_SPAWNER_HOST_ID": "h2", "ABACO_SPAWNER_MAX_WORKERS_PER_HOST": "2"}


@pytest.fixture(scope="module")
def engine_h2():
    engine = SecondEngine(Path(tempfile.mkdtemp(prefix="abaco-h2-")))
    try:
        engine.start()
        engine.load([IMAGE])
        yield engine
    finally:
        engine.remove()
    assert not engine.root.exists()


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory, engine_h2, platform_launcher):
    launch_platform, shutdown_platform = platform_launcher
    plat = launch_platform(tmp_path_factory.mktemp("abaco-hosts"), H1)
    try:
        plat.start("spawner-h2", [str(BIN / "abaco-spawner")], {**H2, "DOCKER_HOST": engine_h2.url})
        yield plat
    finally:
        shutdown_platform(plat)


def admin_hosts(plat) -> dict:
    return {h["host_id"]: h for h in plat.ok("GET", "/admin/hosts", user="root", role="admin")}


# About a minute on a quiet machine; the bound (fixtures included) leaves room for a busy one.
@pytest.mark.timeout(900)
def test_a_dead_host_loses_no_message_and_runs_none_twice(two_hosts, engine_h2):
    plat = two_hosts
    stores = open_stores(plat.config)
    plat.wait_for(lambda: {"h1", "h2"} <= {h for h, r in admin_hosts(plat).items() if r["status"] == "live"},
                  timeout=60, what="both hosts registered and live")
    actor = plat.register(IMAGE, max_workers=4, default_environment={"SLEEP_SECONDS": "0"})
    plat.ok("POST", f"/actors/{actor['id']}/workers", json={"num": 4})

    def spread():
        workers = plat.ok("GET", f"/actors/{actor['id']}/workers")
        ready = [w for w in workers if w["status"] == "READY"]
        return ready if len(ready) == 4 else None
    workers = plat.wait_for(spread, timeout=120, what="4 READY workers")
    placed = Counter(w["host_id"] for w in workers)
    assert set(placed) == {"h1", "h2"} and placed["h2"] <= 2, placed

    # Most messages end at once; every fifth of the later ones sleeps 2 s, so h2 has one in hand when it dies.
    accepted, slow = [], set()
    for n in range(MESSAGES):
        params = {"SLEEP_SECONDS": "2"} if n >= 20 and n % 5 == 0 else {}
        eid = plat.ok("POST", f"/actors/{actor['id']}/messages", data={"message": f"m{n}"},
                      params=params)["execution_id"]
        accepted.append(eid)
        if params:
            slow.add(eid)

    def terminal() -> dict:
        return {e["id"]: e for e in stores.executions.group_docs(actor["id"]) if e["status"] in EXECUTION_TERMINAL}

    # Kill h2 while a slow execution's container runs there, once some work is done.
    def h2_busy():
        busy = [w for _, w in stores.workers.items() if w.get("host_id") == "h2"
                and w.get("status") == WorkerStatus.BUSY and w.get("execution_id") in slow
                and (stores.executions.find(w["execution_id"]) or {}).get("container_id")]
        return busy if len(terminal()) >= 10 and busy else None
    busy = plat.wait_for(h2_busy, timeout=120, interval=0.05, what="a slow execution's container running on h2")
    h2_workers = [w for _, w in stores.workers.items() if w.get("host_id") == "h2"]
    killed_at = time.time()
    plat.stop("spawner-h2", sig=signal.SIGKILL)
    for worker in h2_workers:
        kill_group(worker.get("pid"), signal.SIGKILL)
    killed = engine_h2.kill()
    for worker in h2_workers:      # gone with their host: no later clean-up may signal a reused pid
        plat.config.worker_pidfile(worker["id"]).unlink(missing_ok=True)
    ended_before = set(terminal())        # nothing of h2 can end any more
    in_hand = {w["execution_id"] for w in busy} - ended_before
    assert killed >= 3, "dockerd, containerd and a shim at least"
    assert in_hand, "h2 died with no execution in hand"

    pending: dict[str, str] = {}

    def all_ended():
        done = terminal()
        pending.clear()
        pending.update({e: str((stores.executions.find(e) or {}).get("status")) for e in accepted if e not in done})
        return not pending
    try:
        # About 30 s on a quiet machine; the bound leaves room for a machine shared with others.
        plat.wait_for(all_ended, timeout=420, interval=0.5, what="every message to end")
    except AssertionError:
        print(f"\nhosts: {len(pending)} message(s) not ended: {list(pending.items())[:10]}")
        for name in ("health", "spawner", "spawner-h2", "workers"):
            print(f"--- {name}.log ---\n{plat.log_tail(name, 30)}")
        raise
    drained = time.time() - killed_at

    executions = {e["id"]: e for e in stores.executions.group_docs(actor["id"])}
    assert sorted(executions) == sorted(accepted), "an execution beyond the messages sent, or one missing"
    statuses = Counter(e["status"] for e in executions.values())
    # One accounting record, and one accounting line, per execution: none ended twice.

    def accounted():
        return all(stores.accounting.find(e) is not None for e in accepted)
    plat.wait_for(accounted, timeout=60, what="every execution accounted")
    with open(plat.config.accounting_csv, newline="") as f:
        lines = Counter(row["execution_id"] for row in csv.DictReader(f))
    assert all(lines[e] == 1 for e in accepted), {e: lines[e] for e in accepted if lines[e] != 1}
    hosts_of = {e: stores.accounting.get(e)["host"] for e in accepted}
    after = [e for e in accepted if e not in ended_before]
    assert after and all(hosts_of[e] == "h1" for e in after), Counter(hosts_of[e] for e in after)
    for e in in_hand:
        assert executions[e]["status"] == ExecutionStatus.COMPLETE and hosts_of[e] == "h1", executions[e]
    errored = [e for e in accepted if executions[e]["status"] != ExecutionStatus.COMPLETE]
    assert all(executions[e]["status_message"] for e in errored)

    # h2 is silent, its workers are gone, and h1 runs the actor's 4 workers.
    listing = plat.wait_for(lambda: (lambda h: h if h["h2"]["status"] == "silent" else None)(admin_hosts(plat)),
                            what="h2 listed silent")
    assert listing["h2"]["running_workers"] == 0

    def replaced():
        now = plat.ok("GET", f"/actors/{actor['id']}/workers")
        return now if len(now) == 4 and all(w["host_id"] == "h1" and w["status"] == "READY" for w in now) else None
    plat.wait_for(replaced, timeout=90, what="the lost workers replaced on h1")
    print(f"\nhosts: placed {dict(placed)}; killed {killed} processes of h2 with {len(in_hand)} execution(s) in "
          f"hand after {len(ended_before)} had ended; all {MESSAGES} ended {drained:.1f} s after the kill: "
          f"{dict(statuses)}; ended on {dict(Counter(hosts_of.values()))}; "
          f"attempts > 1: {sum(1 for e in executions.values() if (e.get('attempts') or 0) > 1)}")
    plat.request("DELETE", f"/actors/{actor['id']}")
