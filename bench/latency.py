"""Median end-to-end time of a synchronous (cold) execution against raw `docker run --rm`.

All run the same busybox image (abaco/echo:local) with the same message, interleaved in
one run so the machine's state affects them alike: the platform's synchronous execution
(its containers under ``[workers] runtime``, crun by default), and `docker run --rm
--network none` under runc (the engine's default) and under crun. Needs the stack from
`make up` (which registers crun on the engine it starts). Targets: platform / docker run
with runc <= 0.5 (issue #17), and the ratio against crun is printed beside it.

    .venv/bin/python bench/latency.py [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from common import ready_actor, stack_client

IMAGE = "abaco/echo:local"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    cfg, client = stack_client()
    url, http = client.base_url, client.session
    http.headers["Authorization"] = f"Bearer {client.token}"
    with ready_actor(client, IMAGE, name="latency-bench") as actor:
        def platform_once() -> float:
            start = time.perf_counter()
            resp = http.post(f"{url}/actors/{actor['id']}/messages", data={"message": "bench"},
                             params={"_abaco_synchronous": "true"}, timeout=120)
            elapsed = time.perf_counter() - start
            if resp.status_code != 200 or "Contents of MSG: bench" not in resp.text:
                sys.exit(f"synchronous execution failed: {resp.status_code} {resp.text[:200]}")
            return elapsed

        def docker_once(runtime: str) -> float:
            start = time.perf_counter()
            out = subprocess.run(["docker", "run", "--rm", "--network", "none", "--runtime", runtime,
                                  "-e", "MSG=bench", IMAGE], capture_output=True, text=True, check=True).stdout
            elapsed = time.perf_counter() - start
            assert "Contents of MSG: bench" in out
            return elapsed

        runtimes = ["runc"] + (["crun"] if "crun" in engine_runtimes() else [])
        for _ in range(args.warmup):
            platform_once()
            for runtime in runtimes:
                docker_once(runtime)
        ours: list[float] = []
        raw: dict[str, list[float]] = {runtime: [] for runtime in runtimes}
        for _ in range(args.runs):
            ours.append(platform_once())
            for runtime in runtimes:
                raw[runtime].append(docker_once(runtime))
    med_ours = statistics.median(ours)
    print(f"runs: {args.runs} each, interleaved, image {IMAGE}; settings here: [workers] runtime = "
          f"{cfg.workers.runtime or '(engine default)'}, pipeline = {cfg.workers.pipeline}")
    for runtime, times in raw.items():
        print(f"docker run --rm ({runtime:4})  median {statistics.median(times) * 1000:7.1f} ms   "
              f"min {min(times) * 1000:7.1f} ms")
    print(f"synchronous execution  median {med_ours * 1000:7.1f} ms   min {min(ours) * 1000:7.1f} ms")
    for runtime, times in raw.items():
        target = "   target <= 0.5" if runtime == "runc" else ""
        print(f"ratio (platform / docker run with {runtime}): {med_ours / statistics.median(times):.3f}{target}")
    if "crun" not in raw:
        print("crun is not registered on this engine: no crun figures (make up registers it on an engine it starts)")
    return 0


def engine_runtimes() -> list[str]:
    out = subprocess.run(["docker", "info", "--format", "{{json .Runtimes}}"], capture_output=True, text=True,
                         check=True).stdout
    return list(json.loads(out or "{}").keys())


if __name__ == "__main__":
    sys.exit(main())
