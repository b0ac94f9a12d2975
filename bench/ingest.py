"""API ingest: accepted messages per second through POST /actors/{id}/messages, against a GET baseline.

Drives the stack `make up` started with `hey` (Debian's package, installed by
scripts/install.sh): N form-encoded messages from C concurrent clients, and in the same
run the same number of `GET /actors/{id}` as the baseline. Durability is unchanged by
the benchmark: every 200 means the execution record is in Redis (fsync per its policy)
and the message is on disk in RabbitMQ (publisher confirm).

The actor's workers are asked for on a spawner queue no spawner serves, so no message
runs while the benchmark measures: what is measured is the API alone. The actor, its
messages and that queue are deleted at the end.

Targets: at least 1,000 accepted messages/s with p99 <= 50 ms.

    .venv/bin/python bench/ingest.py [--requests 3000] [--concurrency 16] [--rounds 2]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time

from common import ready_actor, stack_client

from actors import channels

IDLE_QUEUE = "bench-ingest-idle"      # no spawner serves it: the actor's messages wait


def hey(url: str, token: str, requests: int, concurrency: int, post: bool) -> dict:
    """Run hey once; requests/s, p50 and p99 (ms) and the status codes it saw."""
    cmd = ["hey", "-n", str(requests), "-c", str(concurrency), "-H", f"Authorization: Bearer {token}"]
    if post:
        cmd += ["-m", "POST", "-T", "application/x-www-form-urlencoded", "-d", "message=hello"]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = {int(p): float(s) * 1000 for p, s in re.findall(r"(\d+)%+ in ([\d.]+) secs", out)}
    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", out)}
    return {"rate": rate, "p50": latency.get(50, 0.0), "p99": latency.get(99, 0.0), "codes": codes}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="measured rounds of each (after one warm-up)")
    args = parser.parse_args()
    if not shutil.which("hey"):
        sys.exit("hey is not installed: run `make install` (Debian package hey)")
    cfg, client = stack_client("bench-ingest")
    try:
        with ready_actor(client, "abaco/echo:local", name="ingest-bench", queue=IDLE_QUEUE,
                         wait=False) as actor:
            base = f"{client.base_url}/actors/{actor['id']}"
            warm = hey(f"{base}/messages", client.token, min(500, args.requests), args.concurrency, post=True)
            hey(base, client.token, min(500, args.requests), args.concurrency, post=False)
            sends, gets = [], []
            for _ in range(args.rounds):
                sends.append(hey(f"{base}/messages", client.token, args.requests, args.concurrency, post=True))
                gets.append(hey(base, client.token, args.requests, args.concurrency, post=False))
            accepted = sum(r["codes"].get(200, 0) for r in [warm, *sends])
            # RabbitMQ's count lags a moment behind the confirms: wait for it, with a deadline.
            deadline = time.monotonic() + 15
            while (queued := client.queue_length(actor["id"])) != accepted and time.monotonic() < deadline:
                time.sleep(0.5)
    finally:
        broker = channels.Broker(cfg)
        broker.delete_queue(channels.command_queue(cfg, IDLE_QUEUE))
        broker.close()
    send = max(sends, key=lambda r: r["rate"])
    get = max(gets, key=lambda r: r["rate"])
    failed = sum(n for r in sends for c, n in r["codes"].items() if c != 200)
    print(f"hey -n {args.requests} -c {args.concurrency}, best of {args.rounds} rounds each, after a warm-up")
    print(f"POST /actors/{{id}}/messages  {send['rate']:8.1f} msg/s   p50 {send['p50']:6.1f} ms   "
          f"p99 {send['p99']:6.1f} ms   (target >= 1000 msg/s, p99 <= 50 ms)")
    print(f"GET  /actors/{{id}} baseline  {get['rate']:8.1f} req/s   p50 {get['p50']:6.1f} ms   "
          f"p99 {get['p99']:6.1f} ms")
    print(f"ratio messages / GET: {send['rate'] / get['rate']:.2f}   non-200 answers: {failed}   "
          f"accepted {accepted}, in the actor's queue {queued}")
    return 0 if failed == 0 and queued == accepted else 1


if __name__ == "__main__":
    sys.exit(main())
