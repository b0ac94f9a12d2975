"""Live logs: line-to-follower latency, the CPU cost of 100 followers, the API beside them.

An actor (abaco/python3:local) prints its clock every 100 ms; followers (asyncio sockets
in this process, through the API's redirect to abaco-logstream) note when each line
reaches them. Measured in one run, so the machine's state affects all alike:

- latency, straight from ``docker logs -f`` (the floor), 1 follower (the baseline) and 100
  followers: p50 / p95, and their ratio;
- CPU seconds of the logstream process per second, idle and with 100 followers;
- GET /actors/{id} p50 / p99 with no follower and with 100 connected (target p99 <= 100 ms).

Needs the stack from `make up` (logstream's pid from supervisord, for the CPU figures).

    .venv/bin/python bench/logstream.py [--lines 50] [--followers 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import docker
import requests
from common import ready_actor, stack_client

from actors import auth, livelog

IMAGE = "abaco-test/clockticker:local"
SCRIPT = ("import os, sys, time\n"
          "time.sleep(float(os.environ.get('DELAY', '0')))\n"
          "for i in range(int(os.environ.get('COUNT', '50'))):\n"
          "    print(f'{time.time():.6f} {i}', flush=True)\n"
          "    time.sleep(0.1)\n")
USERS_PER_CAP = 20


def build_image() -> None:
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "tick.py").write_text(SCRIPT)
        Path(folder, "Dockerfile").write_text('FROM abaco/python3:local\nCOPY tick.py /tick.py\n'
                                              'CMD ["python3", "-u", "/tick.py"]\n')
        docker.from_env().images.build(path=folder, tag=IMAGE, rm=True)


def docker_delays(lines: int) -> list[float]:
    """The floor: the same image's lines read straight from the Docker engine's log stream."""
    engine = docker.from_env()
    container = engine.containers.run(IMAGE, detach=True, network_mode="none", environment={"COUNT": str(lines)},
                                      labels={"abaco.bench": "logstream"})
    delays, pending = [], ""
    try:
        for data in container.logs(stream=True, follow=True):
            now = time.time()
            pending += data.decode()
            *done, pending = pending.split("\n")
            delays += [now - float(line.split()[0]) for line in done if line]
    finally:
        container.remove(force=True)
    return delays


def cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def logstream_pid(cfg) -> int | None:
    """The logstream process of the stack (supervisord's program), for its CPU figures."""
    from actors import supervision
    return supervision.pid(cfg, "logstream")


class Dechunk:
    """The body of a chunked HTTP response, from its pieces."""

    def __init__(self):
        self.buf = b""

    def feed(self, data: bytes) -> bytes:
        self.buf += data
        out = b""
        while True:
            line_end = self.buf.find(b"\r\n")
            if line_end < 0:
                return out
            size = int(self.buf[:line_end], 16)
            if len(self.buf) < line_end + 2 + size + 2:
                return out
            out += self.buf[line_end + 2:line_end + 2 + size]
            self.buf = self.buf[line_end + 2 + size + 2:]


async def follow(location: str, delays: list[float], connected: asyncio.Event, counter: list) -> None:
    """Follow one stream; the delay of each line printed after every follower was connected."""
    url = urlsplit(location)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(f"GET {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"logstream refused a follower: {head[:200]!r}")
    counter[0] += 1
    if counter[0] == counter[1]:
        counter[2] = time.time()
        connected.set()
    body, parser = Dechunk(), livelog.SseParser()
    pending = ""
    while True:
        data = await reader.read(65536)
        if not data:
            break
        now = time.time()
        for _id, event, text in parser.feed(body.feed(data)):
            if event == "end":
                writer.close()
                return
            pending += text
            *lines, pending = pending.split("\n")
            for line in lines:
                printed = float(line.split()[0]) if line else 0.0
                if connected.is_set() and printed > counter[2]:
                    delays.append(now - printed)
    writer.close()


def locations(http: requests.Session, url: str, path: str, tokens: list[str], n: int) -> list[str]:
    out = []
    for i in range(n):
        resp = http.get(url + path, params={"follow": "true"}, allow_redirects=False, timeout=30,
                        headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}"})
        if resp.status_code != 307:
            raise SystemExit(f"the API did not redirect: {resp.status_code} {resp.text[:200]}")
        out.append(resp.headers["Location"])
    return out


def api_times(http: requests.Session, url: str, actor_id: str, token: str, n: int) -> list[float]:
    took = []
    for _ in range(n):
        began = time.perf_counter()
        resp = http.get(f"{url}/actors/{actor_id}", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        took.append(time.perf_counter() - began)
        if resp.status_code != 200:
            raise SystemExit(f"GET /actors/{actor_id}: {resp.status_code}")
    return took


def run_phase(http, url, client, actor, tokens, followers: int, lines: int, pid, api_samples: int):
    """One execution followed by ``followers``; (delays, cpu s per s, API times while connected)."""
    eid = client.send_message(actor["id"], "tick", env={"COUNT": str(lines), "DELAY": "3"})["execution_id"]
    path = f"/actors/{actor['id']}/executions/{eid}/logs"
    where = locations(http, url, path, tokens, followers)
    delays: list[float] = []
    took: list[float] = []

    async def main() -> float:
        connected = asyncio.Event()
        counter: list = [0, followers, 0.0]
        tasks = [asyncio.create_task(follow(loc, delays, connected, counter)) for loc in where]
        await asyncio.wait_for(connected.wait(), 60)
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        took.extend(await asyncio.to_thread(api_times, http, url, actor["id"], tokens[0], api_samples))
        await asyncio.wait_for(asyncio.gather(*tasks), lines * 0.1 + 120)
        return (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
    cpu = asyncio.run(main())
    return delays, cpu, took


def pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100)[p - 1] * 1000 if len(values) > 1 else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=50, help="lines per execution, one per 100 ms")
    parser.add_argument("--followers", type=int, default=100)
    parser.add_argument("--api-samples", type=int, default=100)
    args = parser.parse_args()
    build_image()
    cfg, client = stack_client()
    url, http = client.base_url, requests.Session()
    pid = logstream_pid(cfg)
    users = [f"lsbench{i}" for i in range(max(1, -(-args.followers // USERS_PER_CAP)))]
    tokens = [auth.issue_token(cfg, u) for u in users]
    with ready_actor(client, IMAGE, name="logstream-bench") as actor:
        for user in users:
            client.call("POST", f"/actors/{actor['id']}/permissions", json={"user": user, "level": "READ"})
        quiet_api = api_times(http, url, actor["id"], tokens[0], args.api_samples)
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(3)
        idle_cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
        floor = docker_delays(args.lines)
        one, one_cpu, _ = run_phase(http, url, client, actor, tokens, 1, args.lines, pid, 0)
        many, many_cpu, busy_api = run_phase(http, url, client, actor, tokens, args.followers, args.lines, pid,
                                             args.api_samples)
    expected = args.lines * args.followers
    print(f"lines: {args.lines} per execution, one per 100 ms; worker flush interval "
          f"{cfg.logstream.flush_interval * 1000:.0f} ms")
    print(f"latency, docker logs -f    p50 {pct(floor, 50):6.1f} ms   p95 {pct(floor, 95):6.1f} ms   "
          f"(the engine's own stream: the floor)")
    print(f"latency, 1 follower        p50 {pct(one, 50):6.1f} ms   p95 {pct(one, 95):6.1f} ms   "
          f"({len(one)} lines)")
    print(f"latency, {args.followers} followers    p50 {pct(many, 50):6.1f} ms   p95 {pct(many, 95):6.1f} ms   "
          f"({len(many)} of {expected} lines: those printed once all were connected)")
    print(f"ratio ({args.followers} / 1 follower): p50 {pct(many, 50) / pct(one, 50):.2f}   "
          f"p95 {pct(many, 95) / pct(one, 95):.2f};   added to the floor by 1 follower: "
          f"p50 {pct(one, 50) - pct(floor, 50):+.1f} ms")
    print(f"logstream CPU: idle {idle_cpu * 100:.2f} % of a core, 1 follower {one_cpu * 100:.2f} %, "
          f"{args.followers} followers {many_cpu * 100:.2f} %")
    print(f"GET /actors/ID, no follower       p50 {pct(quiet_api, 50):6.1f} ms   p99 {pct(quiet_api, 99):6.1f} ms")
    print(f"GET /actors/ID, {args.followers} followers   p50 {pct(busy_api, 50):6.1f} ms   "
          f"p99 {pct(busy_api, 99):6.1f} ms   target p99 <= 100 ms; ratio p99 "
          f"{pct(busy_api, 99) / pct(quiet_api, 99):.2f}")
    return 0 if many and one else 1


if __name__ == "__main__":
    sys.exit(main())
