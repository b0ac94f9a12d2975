"""Helpers of the deployment tests: settings of a stack of their own.

Each stack here (compose or Ansible) gets a fresh instance, a data directory under /tmp
(searchable by the rabbitmq user of its container, which a pytest tmp_path is not) and
ports of its own, so it never meets the `make up` stack nor another test run.
``DEPLOY_TEST_PORT_BASE`` pins the ports (seven from it) when the free ports the kernel
hands out are not wanted; RabbitMQ's Erlang distribution takes the AMQP port + 20000.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _listens(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def free_ports(count: int, offset: int = 0) -> list[int]:
    """``count`` unused loopback ports, each also free at +20000 (RabbitMQ's distribution port)."""
    base = os.environ.get("DEPLOY_TEST_PORT_BASE")
    if base:
        return [int(base) + offset + i for i in range(count)]
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 20000 < 65536 and not _listens(port + 20000) and port not in ports:
            ports.append(port)
        elif port + 20000 >= 65536:
            candidate = 20000 + port % 20000
            if not _listens(candidate) and not _listens(candidate + 20000) and candidate not in ports:
                ports.append(candidate)
    return ports


def stack_settings(prefix: str, offset: int = 0) -> dict[str, str]:
    """ABACO_* settings of a fresh stack: instance, data directory, ports."""
    web, redis, rabbit, tls, logstream, autoscaler, dashboard = free_ports(7, offset)
    data = Path(tempfile.mkdtemp(prefix=f"abaco-{prefix}-"))
    data.chmod(0o755)
    return {
        "ABACO_GENERAL_INSTANCE": prefix + secrets.token_hex(3),
        "ABACO_GENERAL_DATA_DIR": str(data),
        "ABACO_WEB_PORT": str(web),
        "ABACO_WEB_API_SERVER": f"http://127.0.0.1:{web}",
        "ABACO_STORE_REDIS_PORT": str(redis),
        "ABACO_RABBIT_PORT": str(rabbit),
        "ABACO_AUTH_TLS_LISTEN": f"127.0.0.1:{tls}",
        "ABACO_LOGSTREAM_PORT": str(logstream),
        "ABACO_AUTOSCALER_LISTEN": f"127.0.0.1:{autoscaler}",
        "ABACO_DASHBOARD_PORT": str(dashboard),
        # No Prometheus of its own: the default address may be another stack's.
        "ABACO_AUTOSCALER_SOURCE": "direct",
        "ABACO_HEALTH_INTERVAL": "2",
        "ABACO_WEB_SYNC_TIMEOUT": "120",
    }


def clean_env(settings: dict[str, str]) -> dict[str, str]:
    """The environment of this process without its own ABACO_* settings, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABACO_")}
    env.update(settings)
    env["ABACO_CONF"] = str(REPO / "abaco.conf")
    return env


def remove_data_dir(path: str) -> None:
    """The data directory: files written by root in containers, removed by this root process."""
    shutil.rmtree(path, ignore_errors=True)
