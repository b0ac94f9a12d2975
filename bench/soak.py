"""Soak: steady load for a long time; memory and open files of every process must stay flat.

Sends messages to two echo actors at a steady rate against the stack from `make up`
and samples, every `--sample` seconds, the resident memory and the open file
descriptors of the API (gunicorn master and workers), spawner, health, accounting,
clientg, events and the actors' workers. Prints, per process, the figures after the
warm-up, at the end and the most seen, and the growth ratio end / after warm-up
(flat is about 1.0). Every message must complete.

    .venv/bin/python bench/soak.py                 # 30 minutes
    .venv/bin/python bench/soak.py --minutes 2     # a short run
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from common import stack_client

from actors import supervision
from actors.services import NAMES


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def rss_and_fds(pids: list[int]) -> tuple[int, int]:
    rss = fds = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1]) * 1024
            fds += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            pass
    return rss, fds


def process_groups(cfg) -> dict[str, list[int]]:
    groups = {}
    for name in NAMES:
        pid = supervision.pid(cfg, name)
        if pid is None:
            continue
        groups[name] = [pid, *children(pid)] if name == "api" else [pid]
    workers = []
    for pidfile in cfg.worker_pid_dir.glob("*.pid"):
        try:
            workers.append(int(pidfile.read_text()))
        except (OSError, ValueError):
            pass
    groups["workers"] = workers
    return groups


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=2.0, help="messages per second")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=0.1, help="fraction of the run before the baseline sample")
    args = parser.parse_args()
    cfg, client = stack_client("soak")
    url, http = client.base_url, client.session
    http.headers["Authorization"] = f"Bearer {client.token}"
    actors = [client.create_actor("abaco/echo:local", max_workers=2)["id"] for _ in range(2)]
    sent: list[tuple[str, str]] = []
    samples: list[dict[str, tuple[int, int]]] = []
    try:
        for actor in actors:
            client.wait_ready(actor)
        start = time.monotonic()
        end = start + args.minutes * 60
        baseline_at = start + args.minutes * 60 * args.warmup
        baseline = None
        next_sample = start
        n = 0
        while time.monotonic() < end:
            actor = actors[n % 2]
            resp = http.post(f"{url}/actors/{actor}/messages", data={"message": f"soak {n}"}, timeout=60)
            if resp.status_code != 200:
                sys.exit(f"message {n} refused: {resp.status_code} {resp.text[:200]}")
            sent.append((actor, resp.json()["result"]["execution_id"]))
            n += 1
            now = time.monotonic()
            if now >= next_sample:
                sample = {name: rss_and_fds(pids) for name, pids in process_groups(cfg).items()}
                samples.append(sample)
                if baseline is None and now >= baseline_at:
                    baseline = sample
                next_sample = now + args.sample
            time.sleep(max(0.0, 1.0 / args.rate - (time.monotonic() - now)))
        baseline = baseline or samples[0]
        final = {name: rss_and_fds(pids) for name, pids in process_groups(cfg).items()}
        pending = [(a, e) for a, e in sent[-200:]
                   if http.get(f"{url}/actors/{a}/executions/{e}", timeout=30).json()["result"]["status"]
                   not in ("COMPLETE", "ERROR")]
        deadline = time.monotonic() + 120
        while pending and time.monotonic() < deadline:
            time.sleep(1)
            pending = [(a, e) for a, e in pending
                       if http.get(f"{url}/actors/{a}/executions/{e}", timeout=30).json()["result"]["status"]
                       not in ("COMPLETE", "ERROR")]
        print(f"soak: {args.minutes:g} min, {len(sent)} messages at {args.rate:g}/s, {len(samples)} samples, "
              f"{len(pending)} unfinished at the end")
        print(f"{'process':<11} {'rss MiB base':>12} {'end':>7} {'max':>7} {'ratio':>6} "
              f"{'fds base':>8} {'end':>5} {'max':>5} {'ratio':>6}")
        for name in (*NAMES, "workers"):
            if name not in baseline or name not in final:
                continue
            (rss0, fd0), (rss1, fd1) = baseline[name], final[name]
            rss_max = max(s[name][0] for s in samples if name in s)
            fd_max = max(s[name][1] for s in samples if name in s)
            print(f"{name:<11} {rss0 / 2**20:>12.1f} {rss1 / 2**20:>7.1f} {rss_max / 2**20:>7.1f} "
                  f"{rss1 / max(rss0, 1):>6.2f} {fd0:>8} {fd1:>5} {fd_max:>5} {fd1 / max(fd0, 1):>6.2f}")
        return 1 if pending else 0
    finally:
        for actor in actors:
            http.delete(f"{url}/actors/{actor}", timeout=60)


if __name__ == "__main__":
    sys.exit(main())
