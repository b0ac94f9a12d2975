"""CPU cost of sampling a running execution's cgroup, against not sampling at all.

A container sleeps under an execution cgroup while this process waits for it the way
the worker does (``container.wait`` in slices of ``[limits] sample_interval``), once
without sampling and once sampling the cgroup and its processes' io at each slice.
The difference in this process's CPU time, divided by the wall time, is the share of a
CPU that accounting costs. Target: under 1% at the default interval.

    .venv/bin/python bench/accounting_overhead.py [--seconds 10] [--interval 1.0]
"""

from __future__ import annotations

import argparse
import sys
import time

import docker
import requests

from actors import config as config_mod
from actors.runtime import cgroups

IMAGE = "abaco/busybox:local"


def watch(container, interval: float, seconds: float, tree: cgroups.CgroupTree | None, path: str) -> tuple[float, int]:
    """Wait like the worker does for ``seconds``; returns (CPU seconds used, samples)."""
    cpu0, samples = time.process_time(), 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            container.wait(timeout=interval)
            break
        except requests.exceptions.RequestException:
            pass
        if tree is not None:
            tree.sample(path)
            cgroups.process_io_bytes(cgroups.pids(path))
            samples += 1
    return time.process_time() - cpu0, samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=None, help="default: [limits] sample_interval")
    args = parser.parse_args()
    cfg = config_mod.load()
    interval = args.interval or cfg.limits.sample_interval
    tree = cgroups.CgroupTree()
    client = docker.from_env()
    results = {}
    for mode in ("none", "sampling"):
        path = cgroups.execution_path("bench", "overhead", mode)
        tree.create(path, cgroups.Limits(pids_max=100))
        container = client.containers.run(IMAGE, ["sleep", str(int(args.seconds) + 30)], detach=True,
                                          cgroup_parent=path, network_mode="none")
        try:
            cpu, samples = watch(container, interval, args.seconds, tree if mode == "sampling" else None, path)
        finally:
            container.remove(force=True)
            cgroups.remove("/bench")
        results[mode] = (cpu, samples)
    (cpu_none, _), (cpu_sampling, samples) = results["none"], results["sampling"]
    overhead = max(0.0, cpu_sampling - cpu_none) / args.seconds
    print(f"wall time per run: {args.seconds:.1f} s, interval {interval:g} s, samples taken: {samples}")
    print(f"CPU of the waiting loop without sampling: {cpu_none * 1000:8.2f} ms")
    print(f"CPU of the waiting loop with sampling:    {cpu_sampling * 1000:8.2f} ms "
          f"({(cpu_sampling - cpu_none) / max(samples, 1) * 1e6:.0f} us per sample)")
    print(f"overhead: {overhead * 100:.4f}% of one CPU   target < 1%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
