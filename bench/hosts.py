"""Messages per second with one compute host and with two, on the same workload.

Two spawners of the benchmark's own serve the stack `make up` started: host
``bench-h1`` on this machine's Docker engine and host ``bench-h2`` on a second Docker
engine the benchmark starts here (actors/runtime/second_engine.py; the image is copied
in). Both carry the label ``bench-hosts`` and hold at most ``--per-host`` workers
(``max_workers_per_host``); the actor asks for that label, so the stack's own spawner
never runs it. Each round registers an actor (``abaco/sleep:local`` sleeping
``--sleep`` seconds per message), asks for ``per-host`` workers per live host, sends
``--messages`` messages at once and times them from the first send to the last
terminal execution. Round one has bench-h1 only; round two both hosts. Printed: the
workers each host ran, messages/s of each round and the ratio (two hosts / one). On
this machine both "hosts" share its cores, so the ratio shows added worker capacity,
not added CPUs. Needs root (dockerd) and the stack from `make up`.

    .venv/bin/python bench/hosts.py [--messages 24] [--sleep 1] [--per-host 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from common import stack_client

from actors.readiness import wait_until
from actors.runtime.second_engine import SecondEngine
from actors.store import open_stores

IMAGE = "abaco/sleep:local"
LABEL = "bench-hosts"
BIN = Path(sys.executable).parent


def start_spawner(cfg, host: str, per_host: int, docker_host: str | None) -> subprocess.Popen:
    env = dict(os.environ, ABACO_SPAWNER_HOST_ID=host, ABACO_SPAWNER_HOST_LABELS=LABEL,
               ABACO_SPAWNER_MAX_WORKERS_PER_HOST=str(per_host), ABACO_SPAWNER_HEARTBEAT_INTERVAL="1")
    if docker_host:
        env["DOCKER_HOST"] = docker_host
    log = open(cfg.log_dir / f"bench-spawner-{host}.log", "ab")
    return subprocess.Popen([str(BIN / "abaco-spawner")], env=env, stdout=log, stderr=log, start_new_session=True)


def run_round(client, client_config, hosts: list[str], args) -> tuple[float, Counter]:
    """Messages per second with workers on ``hosts``, and how many workers each host ran."""
    actor = client.create_actor(IMAGE, name="hosts-bench", max_workers=args.per_host * len(hosts),
                                host_labels=[LABEL], default_environment={"SLEEP_SECONDS": str(args.sleep)})
    try:
        client.wait_ready(actor["id"], timeout=180)
        client.add_workers(actor["id"], args.per_host * len(hosts))

        def all_ready():
            workers = [w for w in client.list_workers(actor["id"]) if w["status"] == "READY"]
            return workers if len(workers) == args.per_host * len(hosts) else None
        workers = wait_until(all_ready, 180, f"{args.per_host * len(hosts)} READY workers", interval=0.5)
        placed = Counter(w["host_id"] for w in workers)
        start = time.perf_counter()
        for n in range(args.messages):
            client.send_message(actor["id"], f"m{n}")

        def finished():
            executions = client.list_executions(actor["id"])["executions"]
            return len([e for e in executions if e["status"] in ("COMPLETE", "ERROR")]) >= args.messages
        wait_until(finished, 600, f"{args.messages} executions to end", interval=0.2)
        return args.messages / (time.perf_counter() - start), placed
    finally:
        client.delete_actor(actor["id"])
        stores = open_stores(client_config)
        wait_until(lambda: not stores.workers.group_docs(actor["id"]), 120, "the round's workers to exit",
                   interval=0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=24)
    parser.add_argument("--sleep", type=int, default=1, help="seconds each execution sleeps")
    parser.add_argument("--per-host", type=int, default=2, help="max_workers_per_host of each host")
    args = parser.parse_args()
    cfg, client = stack_client(role="admin")
    engine = SecondEngine(Path(tempfile.mkdtemp(prefix="abaco-bench-h2-")))
    spawners: list[subprocess.Popen] = []
    try:
        engine.start()
        engine.load([IMAGE])
        spawners.append(start_spawner(cfg, "bench-h1", args.per_host, None))
        one, placed_one = run_round(client, cfg, ["bench-h1"], args)
        spawners.append(start_spawner(cfg, "bench-h2", args.per_host, engine.url))
        wait_until(lambda: any(h["host_id"] == "bench-h2" and h["status"] == "live"
                               for h in client.call("GET", "/admin/hosts")), 60, "bench-h2 registered")
        two, placed_two = run_round(client, cfg, ["bench-h1", "bench-h2"], args)
    finally:
        for proc in spawners:
            proc.terminate()
            proc.wait(timeout=30)
        engine.remove()
        stores = open_stores(cfg)
        for host in ("bench-h1", "bench-h2"):
            stores.hosts.delete(host)
    print(f"workload: {args.messages} messages of {IMAGE} sleeping {args.sleep} s, "
          f"at most {args.per_host} workers per host")
    print(f"one host  ({dict(placed_one)}): {one:6.2f} messages/s")
    print(f"two hosts ({dict(placed_two)}): {two:6.2f} messages/s")
    print(f"ratio (two hosts / one host): {two / one:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
