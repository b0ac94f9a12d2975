"""The private stack the fault tests break: its own Redis, RabbitMQ and supervised platform
processes, started by scripts/stack.sh under a private instance, ports and a data directory
on a small tmpfs (the ``stack`` fixture in conftest.py: one for all of tests/faults)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

from actors import config as config_mod
from actors.readiness import wait_until

REPO = Path(__file__).resolve().parents[2]


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port(low: int, high: int, also: int | None = None) -> int:
    """A free port in [low, high); with ``also``, port + also must be free too (RabbitMQ's
    distribution port is its AMQP port + 20000)."""
    for port in range(low, high):
        if _free(port) and (also is None or _free(port + also)):
            return port
    raise RuntimeError("no free port")


class Stack:
    def __init__(self, data: Path):
        instance = "flt" + os.urandom(3).hex()
        web = free_port(41000, 42000)
        self.env = dict(os.environ, ABACO_GENERAL_INSTANCE=instance, ABACO_GENERAL_DATA_DIR=str(data),
                        ABACO_WEB_PORT=str(web), ABACO_WEB_API_SERVER=f"http://127.0.0.1:{web}",
                        ABACO_STORE_REDIS_PORT=str(free_port(26400, 26500)),
                        ABACO_RABBIT_PORT=str(free_port(25700, 25800, also=20000)),
                        ABACO_AUTH_TLS_LISTEN=f"127.0.0.1:{free_port(26600, 26700)}",
                        ABACO_LOGSTREAM_PORT=str(free_port(26700, 26800)),
                        # Every other listener private too: CI's `make up` stack holds the defaults.
                        ABACO_AUTOSCALER_LISTEN=f"127.0.0.1:{free_port(26800, 26850)}",
                        ABACO_AUTOSCALER_PROMETHEUS_LISTEN=f"127.0.0.1:{free_port(26850, 26900)}",
                        ABACO_AUTOSCALER_ALERTMANAGER_LISTEN=f"127.0.0.1:{free_port(26900, 26950)}",
                        ABACO_HEALTH_INTERVAL="2", ABACO_HEALTH_WORKER_DEAD_AFTER="20",
                        ABACO_HEALTH_STUCK_AFTER="30", ABACO_WEB_SYNC_TIMEOUT="30")
        self.config = config_mod.load(environ=self.env)
        self.url = f"http://127.0.0.1:{web}"
        self.data = data
        self.token = None

    def sh(self, *args: str, timeout: float = 240) -> str:
        out = subprocess.run([str(REPO / "scripts" / "stack.sh"), *args], env=self.env, cwd=REPO,
                             capture_output=True, text=True, timeout=timeout)
        assert out.returncode == 0, f"stack.sh {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}"
        return out.stdout

    def up(self) -> None:
        """Start what is not running; a second try if a service was slow to come back."""
        try:
            self.sh("up")
        except AssertionError as exc:
            print(f"faults: stack.sh up failed once, trying again: {str(exc)[-300:]}")
            time.sleep(3)
            self.sh("up")

    def pid(self, name: str) -> int:
        """The pid of a service (redis, rabbitmq) or of a supervised platform process."""
        if name in ("redis", "rabbitmq"):
            path = self.data / ("rabbitmq/pid" if name == "rabbitmq" else f"pids/{name}.pid")
            return int(path.read_text().strip())
        return int(self.sh("pid", name).strip())

    def request(self, method: str, path: str, **kw):
        headers = {"Authorization": f"Bearer {self.token}"}
        return requests.request(method, self.url + path, headers=headers, timeout=kw.pop("timeout", 60), **kw)


def kill_node(node: str) -> None:
    """Kill the Erlang VM of a RabbitMQ node (its name is in its environment, not its command line)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RABBITMQ_NODENAME={node}".encode() in environ:
            try:
                os.kill(int(proc.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def wait_for(predicate, timeout: float, what: str, interval: float = 0.3):
    return wait_until(predicate, timeout, what, interval=interval)


