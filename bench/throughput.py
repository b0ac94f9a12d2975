"""Messages per second through W workers of one actor, against W parallel loops of `docker run --rm`.

Cold half (issue #17 part 3): ``--messages`` short messages (abaco/echo:local) are queued
for an actor with W workers, each execution a fresh container (pipelined while
``[workers] pipeline = true``: the next container is created while one runs); the rate
is messages / (first POST to last terminal record). The baseline, measured in the same
run, is W shell-free loops running `docker run --rm --network none` of the same image
back to back, under the engine's default runtime (and under crun when it is registered).
Target: platform rate >= 1.2x the docker run loops' rate. Bounded: every wait has a
deadline, and the run stops at the first failed execution.

The warm half (part 2, warm actors: one container serving many messages) is measured by
bench/warm.py (200 messages to a warm actor with 2 workers); a mode added to MODES below
(an actor registered with its own fields) is printed beside the cold one.

    .venv/bin/python bench/throughput.py [--messages 200] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time

from common import ready_actor, stack_client

from actors.readiness import wait_until

IMAGE = "abaco/echo:local"
MODES = ["cold"]            # the modes measured against the same docker run loops


def platform_rate(client, messages: int, workers: int, timeout: float) -> tuple[float, int]:
    """(messages per second, executions that ended in ERROR) for one actor with ``workers`` workers."""
    with ready_actor(client, IMAGE, name="throughput-bench", max_workers=workers) as actor:
        if workers > 1:
            client.add_workers(actor["id"], workers)
            wait_until(lambda: sum(w.get("status") in ("READY", "BUSY") for w in client.list_workers(actor["id"]))
                       >= workers, 120, f"{workers} workers READY")
        start = time.perf_counter()
        for i in range(messages):
            client.send_message(actor["id"], f"m{i}")

        def ended() -> list[dict] | None:
            listed = client.list_executions(actor["id"])["executions"]
            done = [e for e in listed if e.get("status") in ("COMPLETE", "ERROR")]
            return done if len(done) >= messages else None
        done = wait_until(ended, timeout, f"{messages} executions to end", interval=0.2)
        elapsed = time.perf_counter() - start
    return messages / elapsed, sum(e.get("status") == "ERROR" for e in done)


def docker_rate(messages: int, loops: int, runtime: str) -> float:
    """Messages per second of ``loops`` parallel loops of `docker run --rm`, ``messages`` runs in all."""
    share = [messages // loops + (1 if i < messages % loops else 0) for i in range(loops)]
    failures: list[str] = []

    def loop(count: int) -> None:
        for i in range(count):
            proc = subprocess.run(["docker", "run", "--rm", "--network", "none", "--runtime", runtime,
                                   "-e", f"MSG=m{i}", IMAGE], capture_output=True, text=True, timeout=120)
            if proc.returncode != 0 or f"Contents of MSG: m{i}" not in proc.stdout:
                failures.append(proc.stderr[-200:])
                return
    threads = [threading.Thread(target=loop, args=(n,)) for n in share]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        sys.exit(f"docker run failed: {failures[0]}")
    return messages / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600, help="seconds the platform half may take")
    args = parser.parse_args()
    cfg, client = stack_client()
    runtimes = json.loads(subprocess.run(["docker", "info", "--format", "{{json .Runtimes}}"],
                                         capture_output=True, text=True, check=True).stdout or "{}")
    baselines = ["runc"] + (["crun"] if "crun" in runtimes else [])
    # The workers run with the settings the stack was started with; these are this shell's.
    print(f"{args.messages} messages, W = {args.workers}, image {IMAGE}; settings here: [workers] runtime = "
          f"{cfg.workers.runtime or '(engine default)'}, pipeline = {cfg.workers.pipeline}", flush=True)
    rates, errors = {}, 0
    for mode in MODES:
        rates[mode], errors = platform_rate(client, args.messages, args.workers, args.timeout)
        print(f"platform, {mode:4}                     : {rates[mode]:7.2f} messages/s   ({errors} ERROR)",
              flush=True)
    raw = {}
    for runtime in baselines:
        raw[runtime] = docker_rate(args.messages, args.workers, runtime)
        print(f"W loops of docker run --rm ({runtime:4}): {raw[runtime]:7.2f} messages/s", flush=True)
    for mode, rate in rates.items():
        for runtime, base in raw.items():
            target = "   target >= 1.2" if mode == "cold" and runtime == "runc" else ""
            print(f"ratio ({mode} / docker run loops with {runtime}): {rate / base:.3f}{target}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
