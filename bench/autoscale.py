"""Autoscaling against fixed pools: a burst of N short messages, three ways, in one run.

1. a fixed pool of 1 worker; 2. a fixed pool of ``max_workers`` workers (started and READY
before the burst); 3. an autoscaled actor (``autoscale: true``, min_workers 0) that starts,
like any new actor, with one worker. For each: time to the first scale-up and to the maximum
(autoscaled only), the makespan (first send to last execution finished), and the idle
worker-seconds over a horizon after the burst (``--horizon``, 60 s by default): measured
until the autoscaled actor is at zero workers (the rest of the horizon is then zero), and for
the fixed pools measured over a few seconds and scaled to the horizon (a fixed pool stays).

It runs a private platform (its own instance, data directory and port, the processes of
actors.services.PROCESSES) on the stack's Redis, RabbitMQ and Docker, with short autoscaler
settings (ticks of 1 s, 10 s stable window, 3 s panic window, 3 s scale-down delay, 5 s grace)
and the direct source, so it stays bounded. Needs `make up`. Targets: makespan within 1.3x the
fixed maximum pool; at least 80% fewer idle worker-seconds.

    .venv/bin/python bench/autoscale.py [--messages 40] [--max-workers 4]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

from common import stack_client

from actors import auth
from actors import config as config_mod
from actors.config import Config
from actors.process import kill_group, pid_alive
from actors.readiness import NotReady, api_answers, wait_until
from actors.sdk.client import Client
from actors.services import PROCESSES

IMAGE = "abaco/echo:local"
LIVE = ("REQUESTED", "SPAWNER SETUP", "READY", "BUSY")
SETTINGS = {"ABACO_AUTOSCALER_INTERVAL": "1", "ABACO_AUTOSCALER_STABLE_WINDOW": "10",
            "ABACO_AUTOSCALER_PANIC_WINDOW": "3", "ABACO_AUTOSCALER_SCALE_DOWN_DELAY": "3",
            "ABACO_AUTOSCALER_ZERO_GRACE": "5", "ABACO_AUTOSCALER_SOURCE": "direct",
            "ABACO_HEALTH_INTERVAL": "2"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def private_platform(stack: Config) -> Iterator[tuple[Config, Client]]:
    """The platform's processes for a fresh instance on the stack's services; removed afterwards."""
    data = Path(tempfile.mkdtemp(prefix="abaco-bench-"))
    port = free_port()
    env = dict(os.environ, **SETTINGS,
               ABACO_GENERAL_INSTANCE="b" + secrets.token_hex(4), ABACO_GENERAL_DATA_DIR=str(data),
               ABACO_WEB_PORT=str(port), ABACO_WEB_API_SERVER=f"http://127.0.0.1:{port}",
               ABACO_AUTOSCALER_LISTEN=f"127.0.0.1:{free_port()}",
               ABACO_STORE_REDIS_PASSWORD=stack.store.redis_password, ABACO_RABBIT_USER=stack.rabbit.user,
               ABACO_RABBIT_PASSWORD=stack.rabbit.password)
    config = config_mod.load(environ=env)
    for directory in (config.log_dir, config.run_dir, config.worker_pid_dir):
        directory.mkdir(parents=True, exist_ok=True)
    auth.ensure_signing_key(config)
    bin_dir = Path(sys.executable).parent
    procs = []
    try:
        for process in PROCESSES:
            log = open(config.log_dir / f"{process.name}.log", "ab")
            procs.append(subprocess.Popen([str(bin_dir / process.command)], env=env, stdout=log, stderr=log,
                                          start_new_session=True))
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: api_answers(url), 180, "the private API", logs=[config.log_dir / "api.log"])
        yield config, Client(url, auth.issue_token(config, "bench", "user"), timeout=60)
    finally:
        for proc in procs:
            kill_group(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                kill_group(proc.pid)
        _stop_workers(config)
        _cleanup(config)


def _stop_workers(config: Config) -> None:
    pids = []
    for pidfile in config.worker_pid_dir.glob("*.pid"):
        with contextlib.suppress(OSError, ValueError):
            pids.append(int(pidfile.read_text()))
    for pid in pids:
        kill_group(pid, signal.SIGTERM)
    try:
        wait_until(lambda: not any(pid_alive(p) for p in pids), 20, "the workers to exit")
    except NotReady:
        for pid in pids:
            kill_group(pid)


def _cleanup(config: Config) -> None:
    import docker

    from actors.runtime import cgroups
    from actors.store.redis import RedisBackend
    client = docker.from_env()
    for c in client.containers.list(all=True, filters={"label": f"abaco.instance={config.general.instance}"}):
        c.remove(force=True)
    RedisBackend(config).flush_instance()
    cgroups.remove(f"/{config.general.instance}")


def _workers(client: Client, actor_id: str) -> tuple[int, int]:
    """Live workers and, of them, the idle ones (READY)."""
    statuses = [w["status"] for w in client.list_workers(actor_id)]
    return sum(1 for s in statuses if s in LIVE), statuses.count("READY")


def run(client: Client, label: str, n: int, max_workers: int, autoscale: bool, horizon: float,
        fixed_observe: float = 3.0, deadline: float = 900.0) -> dict:
    actor = client.create_actor(IMAGE, name=f"autoscale-bench-{label}", max_workers=max_workers,
                                autoscale=autoscale)
    aid = actor["id"]
    try:
        client.wait_ready(aid)
        pool = 1 if autoscale else max_workers
        if pool > 1:
            client.add_workers(aid, pool)
        wait_until(lambda: _workers(client, aid) == (pool, pool), 120, f"{pool} READY workers")
        start = time.monotonic()
        for i in range(n):
            client.send_message(aid, f"burst {i}")
        first_up = at_max = None
        while True:
            now = time.monotonic() - start
            if now > deadline:
                sys.exit(f"{label}: the burst did not finish within {deadline:g} s; see {aid}'s executions")
            live, _idle = _workers(client, aid)
            if first_up is None and live > pool:
                first_up = now
            if at_max is None and live >= max_workers and autoscale:
                at_max = now
            done = [e for e in client.list_executions(aid)["executions"] if e["status"] in ("COMPLETE", "ERROR")]
            if len(done) >= n:
                makespan = time.monotonic() - start
                break
            time.sleep(0.2)
        # Idle worker-seconds after the burst.
        idle_s, t, last = 0.0, 0.0, time.monotonic()
        limit = horizon if autoscale else fixed_observe
        while t < limit:
            time.sleep(0.25)
            live, idle = _workers(client, aid)
            step = time.monotonic() - last
            last += step
            t += step
            idle_s += idle * step
            if autoscale and live == 0:
                break
        if not autoscale:
            idle_s *= horizon / t
        return {"label": label, "makespan": makespan, "first_up": first_up, "at_max": at_max,
                "idle_worker_s": idle_s, "to_zero": t if autoscale else None}
    finally:
        client.delete_actor(aid)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--max-workers", type=int, default=4)
    parser.add_argument("--horizon", type=float, default=60.0, help="seconds after the burst idle time counts over")
    args = parser.parse_args()
    stack, _ = stack_client()
    with private_platform(stack) as (_config, client):
        results = [run(client, "fixed-1", args.messages, 1, False, args.horizon),
                   run(client, f"fixed-{args.max_workers}", args.messages, args.max_workers, False, args.horizon),
                   run(client, "autoscaled", args.messages, args.max_workers, True, args.horizon)]

    def fmt(v) -> str:
        return "      -" if v is None else f"{v:7.2f}"
    print(f"burst of {args.messages} messages ({IMAGE}), max_workers {args.max_workers}, "
          f"idle horizon {args.horizon:g} s")
    print(f"{'pool':<12} {'first up s':>10} {'at max s':>9} {'makespan s':>10} {'idle worker-s':>14} {'to zero s':>9}")
    for r in results:
        print(f"{r['label']:<12} {fmt(r['first_up']):>10} {fmt(r['at_max']):>9} {fmt(r['makespan']):>10} "
              f"{fmt(r['idle_worker_s']):>14} {fmt(r['to_zero']):>9}")
    one, full, auto = results
    print(f"makespan ratio (autoscaled / fixed-{args.max_workers}): {auto['makespan'] / full['makespan']:.2f}"
          f"   target <= 1.3   (fixed-1 / fixed-{args.max_workers}: {one['makespan'] / full['makespan']:.2f})")
    saved = 1 - auto["idle_worker_s"] / full["idle_worker_s"]
    print(f"idle worker-seconds saved against fixed-{args.max_workers}: {saved:.0%}   target >= 80%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
