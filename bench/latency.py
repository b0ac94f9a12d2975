"""Median end-to-end time of a synchronous execution against raw `docker run --rm`.

Both run the same busybox image (abaco/echo:local) with the same message, interleaved
in one run so the machine's state affects both alike. Needs the stack from `make up`.
Target: ratio (platform / docker run) <= 1.15.

    .venv/bin/python bench/latency.py [--runs 20]
"""

from __future__ import annotations

import argparse
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

        def docker_once() -> float:
            start = time.perf_counter()
            out = subprocess.run(["docker", "run", "--rm", "--network", "none", "-e", "MSG=bench", IMAGE],
                                 capture_output=True, text=True, check=True).stdout
            elapsed = time.perf_counter() - start
            assert "Contents of MSG: bench" in out
            return elapsed

        for _ in range(args.warmup):
            platform_once()
            docker_once()
        ours, raw = [], []
        for _ in range(args.runs):
            ours.append(platform_once())
            raw.append(docker_once())
    med_ours, med_raw = statistics.median(ours), statistics.median(raw)
    print(f"runs: {args.runs} each, interleaved, image {IMAGE}")
    print(f"docker run --rm        median {med_raw * 1000:7.1f} ms   min {min(raw) * 1000:7.1f} ms")
    print(f"synchronous execution  median {med_ours * 1000:7.1f} ms   min {min(ours) * 1000:7.1f} ms")
    print(f"ratio (platform / docker run): {med_ours / med_raw:.3f}   target <= 1.15")
    return 0


if __name__ == "__main__":
    sys.exit(main())
