"""API ingest: accepted messages per second through POST /actors/{id}/messages, against a GET baseline.

Drives the stack `make up` started with `wrk` (default; a C load generator, so the two
cores go to the platform rather than to the client) or `hey` (`--driver hey`), both
Debian packages installed by scripts/install.sh: C concurrent keep-alive clients send
form-encoded messages, and in the same run the same clients send `GET /actors/{id}` as
the baseline. Durability is unchanged by the benchmark: every 200 means the execution
record is in Redis (fsync per its policy) and the message is on disk in RabbitMQ
(publisher confirm).

The actor's workers are asked for on a spawner queue no spawner serves, so no message
runs while the benchmark measures: what is measured is the API alone. After each round
the messages in the actor's queue are counted (every accepted one must be there; wrk may
leave up to C more, sent as it stopped and answered after) and purged, so no round meets
the mailbox quota. The actor, its messages and that queue are deleted at the end.

Targets: at least 1,000 accepted messages/s with p99 <= 50 ms.

    .venv/bin/python bench/ingest.py [--seconds 5] [--requests 3000] [--concurrency 16] [--rounds 2] [--driver wrk|hey]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ready_actor, stack_client

from actors import channels

IDLE_QUEUE = "bench-ingest-idle"      # no spawner serves it: the actor's messages wait
POST_LUA = """wrk.method = "POST"
wrk.body = "message=hello"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
"""


def hey(url: str, token: str, args, post: bool) -> dict:
    """Run hey once: requests/s, p50 and p99 (ms), and how many answers were 200 and not."""
    cmd = ["hey", "-n", str(args.requests), "-c", str(args.concurrency), "-H", f"Authorization: Bearer {token}"]
    if post:
        cmd += ["-m", "POST", "-T", "application/x-www-form-urlencoded", "-d", "message=hello"]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = {int(p): float(s) * 1000 for p, s in re.findall(r"(\d+)%+ in ([\d.]+) secs", out)}
    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", out)}
    ok = codes.get(200, 0)
    return {"rate": rate, "p50": latency.get(50, 0.0), "p99": latency.get(99, 0.0), "ok": ok,
            "failed": sum(codes.values()) - ok}


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, token: str, args, post: bool) -> dict:
    """Run wrk once for ``args.seconds``: requests/s, p50 and p99 (ms), answers 200 and not."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["wrk", "-t", "2", "-c", str(args.concurrency), "-d", f"{args.seconds}s", "--latency",
               "-H", f"Authorization: Bearer {token}"]
        if post:
            script = Path(tmp) / "post.lua"
            script.write_text(POST_LUA)
            cmd += ["-s", str(script)]
        out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    failed = (int(bad.group(1)) if bad else 0) + errors
    latency = {int(p): _ms(v) for p, v in re.findall(r"^\s+(\d+)%\s+(\S+)", out, re.M)}
    return {"rate": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "p50": latency.get(50, 0.0),
            "p99": latency.get(99, 0.0), "ok": total - failed, "failed": failed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--driver", choices=("wrk", "hey"), default="wrk")
    parser.add_argument("--seconds", type=int, default=5, help="length of a wrk round")
    parser.add_argument("--requests", type=int, default=3000, help="requests of a hey round")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="measured rounds of each (after one warm-up)")
    args = parser.parse_args()
    if not shutil.which(args.driver):
        sys.exit(f"{args.driver} is not installed: run `make install` (Debian package {args.driver})")
    drive = wrk if args.driver == "wrk" else hey
    cfg, client = stack_client("bench-ingest")
    broker = channels.Broker(cfg)
    sends, gets, missing, extra = [], [], 0, 0
    try:
        with ready_actor(client, "abaco/echo:local", name="ingest-bench", queue=IDLE_QUEUE,
                         wait=False) as actor:
            base = f"{client.base_url}/actors/{actor['id']}"
            queue = channels.actor_queue(cfg, actor["id"])
            for round_ in range(args.rounds + 1):              # round 0 warms up
                sent = drive(f"{base}/messages", client.token, args, post=True)
                got = drive(base, client.token, args, post=False)
                # RabbitMQ's count lags a moment behind the confirms: wait for it, with a deadline.
                deadline = time.monotonic() + 15
                while (queued := broker.queue_length(queue)) < sent["ok"] and time.monotonic() < deadline:
                    time.sleep(0.5)
                missing += max(0, sent["ok"] - queued)
                extra = max(extra, queued - sent["ok"])
                broker.purge(queue)
                if round_:
                    sends.append(sent)
                    gets.append(got)
    finally:
        broker.delete_queue(channels.command_queue(cfg, IDLE_QUEUE))
        broker.close()
    send = max(sends, key=lambda r: r["rate"])
    get = max(gets, key=lambda r: r["rate"])
    failed = sum(r["failed"] for r in sends)
    accepted = sum(r["ok"] for r in sends)
    shape = f"{args.seconds} s" if args.driver == "wrk" else f"-n {args.requests}"
    print(f"{args.driver} {shape} -c {args.concurrency}, best of {args.rounds} rounds each, after a warm-up")
    print(f"POST /actors/{{id}}/messages  {send['rate']:8.1f} msg/s   p50 {send['p50']:6.1f} ms   "
          f"p99 {send['p99']:6.1f} ms   (target >= 1000 msg/s, p99 <= 50 ms)")
    print(f"GET  /actors/{{id}} baseline  {get['rate']:8.1f} req/s   p50 {get['p50']:6.1f} ms   "
          f"p99 {get['p99']:6.1f} ms")
    print(f"ratio messages / GET: {send['rate'] / get['rate']:.2f}   non-200 answers: {failed}   "
          f"accepted {accepted}, missing from the queue {missing}, unanswered but queued at most {extra}")
    return 0 if failed == 0 and missing == 0 and extra <= args.concurrency else 1


if __name__ == "__main__":
    sys.exit(main())
