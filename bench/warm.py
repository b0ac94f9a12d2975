"""Warm actors: synchronous latency against the cold path and raw `docker run --rm`, and throughput.

One image (abaco-test/warm-echo:local: abaco/python3:local with the echo actor's script,
built here when missing) is run four ways, interleaved in one run so the machine's
state affects all alike: a synchronous message to a warm actor, to a warm actor whose
``warm_function`` (echofn:main) does the same in Python, to the same image registered
cold, and `docker run --rm` of the image. Then 200 short messages go to the
warm actor with 2 workers, and executions per second are counted from the first send to
the last finish time. Needs the stack from `make up`.
Targets: warm p50 <= 10 ms; warm throughput >= 200 executions/s.

    .venv/bin/python bench/warm.py [--runs 30] [--messages 200]
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tarfile
import time

import docker
from common import ready_actor, stack_client

from actors import times

IMAGE = "abaco-test/warm-echo:local"     # also has /echofn.py, for warm_function = echofn:main
SCRIPT = b'#!/bin/sh\necho "Contents of MSG: $MSG"\n'
FUNCTION = b'import os\n\ndef main():\n    print("Contents of MSG: " + os.environ["MSG"])\n'


def ensure_image() -> None:
    client = docker.from_env()
    try:
        client.images.get(IMAGE)
        if _has_function(client):
            return
    except docker.errors.ImageNotFound:
        pass
    dockerfile = (b'FROM abaco/python3:local\nCOPY entry.sh /entry.sh\nCOPY echofn.py /echofn.py\n'
                  b'CMD ["sh", "/entry.sh"]\n')
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("Dockerfile", dockerfile), ("entry.sh", SCRIPT), ("echofn.py", FUNCTION)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    client.images.build(fileobj=buf, custom_context=True, tag=IMAGE, rm=True)


def _has_function(client) -> bool:
    """Whether the image already carries /echofn.py (images built by an older version do not)."""
    try:
        client.containers.run(IMAGE, ["test", "-f", "/echofn.py"], network_mode="none", remove=True)
        return True
    except docker.errors.ContainerError:
        return False


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    ensure_image()
    cfg, client = stack_client()
    url, http = client.base_url, client.session
    http.headers["Authorization"] = f"Bearer {client.token}"

    def sync_once(actor_id: str) -> float:
        start = time.perf_counter()
        resp = http.post(f"{url}/actors/{actor_id}/messages", data={"message": "bench"},
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

    with ready_actor(client, IMAGE, name="warm-bench", warm=True) as warm, \
            ready_actor(client, IMAGE, name="warm-fn-bench", warm=True, warm_function="echofn:main") as fn, \
            ready_actor(client, IMAGE, name="cold-bench") as cold:
        for _ in range(args.warmup):
            sync_once(warm["id"])
            sync_once(fn["id"])
            sync_once(cold["id"])
            docker_once()
        hot, func, chill, raw = [], [], [], []
        for _ in range(args.runs):
            hot.append(sync_once(warm["id"]))
            func.append(sync_once(fn["id"]))
            chill.append(sync_once(cold["id"]))
            raw.append(docker_once())
    print(f"runs: {args.runs} each, interleaved, image {IMAGE}")
    for name, values in (("warm synchronous", hot), ("warm function", func), ("cold synchronous", chill),
                         ("docker run --rm", raw)):
        print(f"{name:18s} p50 {pct(values, 0.5) * 1000:8.1f} ms   p99 {pct(values, 0.99) * 1000:8.1f} ms"
              f"   min {min(values) * 1000:8.1f} ms")
    print(f"warm p50 / cold p50: {statistics.median(hot) / statistics.median(chill):.3f}   "
          f"warm p50 / docker run p50: {statistics.median(hot) / statistics.median(raw):.3f}   "
          f"target: warm p50 <= 10 ms")

    with ready_actor(client, IMAGE, name="warm-throughput", warm=True, max_workers=2) as actor:
        client.add_workers(actor["id"], 2)
        deadline = time.monotonic() + 60
        while len([w for w in client.list_workers(actor["id"]) if w.get("status") == "READY"]) < 2:
            if time.monotonic() > deadline:
                sys.exit("the second worker did not become READY")
            time.sleep(0.2)
        for _ in range(4):                  # each worker starts its warm container
            client.send_sync(actor["id"], "warmup")
        first = time.time()
        ids = [client.send_message(actor["id"], f"m{i}")["execution_id"] for i in range(args.messages)]
        sent = time.time() - first
        finished = [client.wait_execution(actor["id"], eid, timeout=300, interval=0.2) for eid in ids]
        bad = [e for e in finished if e["status"] != "COMPLETE"]
        if bad:
            sys.exit(f"{len(bad)} executions did not complete: {bad[0]}")
        last = max(times.epoch(e["finish_time"]) for e in finished)
        span = last - first
    print(f"throughput: {args.messages} messages to a warm actor on 2 workers: sent in {sent:.2f} s, "
          f"all done {span:.2f} s after the first send = {args.messages / span:.1f} executions/s   "
          f"target >= 200")
    return 0


if __name__ == "__main__":
    sys.exit(main())
