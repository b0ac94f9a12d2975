"""Is one platform process of this instance doing its job? For container health checks.

``python -m actors.healthcheck NAME`` exits 0 when process NAME serves, 1 (saying why)
when it does not: ``api`` answers ``GET /actors`` on ``[web] host:port``, ``tls`` answers
it over HTTPS on ``[auth] tls_listen``, ``logstream`` its ``/healthz``, ``dashboard`` its sign-in
page, ``autoscaler`` (any answer) on ``[autoscaler] listen``; the queue consumers (``spawner``, ``accounting``,
``clientg``, ``events``) hold a consumer on each of their queues; ``health`` (which
consumes nothing) has its stores and its broker answering; the compose stack's
``compose-watchdog`` has the Docker engine answering. The probes look only at this
instance's ports and queues, never at process tables: the compose stack's containers
share the host's, where other stacks' processes run too.
"""

from __future__ import annotations

import sys
from typing import Callable

import pika
import requests

from actors import channels
from actors import config as config_mod
from actors.config import Config
from actors.readiness import http_status

ANSWERS = (200, 400, 401)           # GET /actors: open, or asking for credentials (Abaco's 400)


def consumer_queues(config: Config, name: str) -> list[str]:
    """The queues process ``name`` consumes from (empty for a process that consumes none)."""
    return {
        "spawner": [channels.command_queue(config, q) for q in config.spawner.queues],
        "accounting": [channels.accounting_queue(config)],
        "clientg": [channels.clients_queue(config)],
        "events": [channels.deliveries_queue(config)],
    }.get(name, [])


def consumers(config: Config, queue: str) -> int:
    """How many consumers RabbitMQ counts on ``queue`` (0 when it does not exist)."""
    connection = channels.connect(config, name=f"{config.general.instance} healthcheck")
    try:
        try:
            return connection.channel().queue_declare(queue=queue, passive=True).method.consumer_count
        except pika.exceptions.ChannelClosedByBroker:
            return 0
    finally:
        connection.close()


def check(config: Config, name: str, status: Callable[[str], int | None] = http_status,
          count: Callable[[Config, str], int] = consumers) -> str:
    """'' when ``name`` serves, else why not. ``status`` and ``count`` probe the services."""
    if name == "api":
        url = f"http://{config.web.host}:{config.web.port}/actors"
        code = status(url)
        return "" if code in ANSWERS else f"the API at {url} answered {code}"
    if name == "tls":
        url = f"https://{config.auth.tls_listen}/actors"
        code = status(url)
        return "" if code in ANSWERS else f"the HTTPS listener at {url} answered {code}"
    if name == "logstream":
        url = f"http://{config.logstream.host}:{config.logstream.port}/healthz"
        code = status(url)
        return "" if code == 200 else f"the live log server at {url} answered {code}"
    if name == "dashboard":
        url = f"http://{config.dashboard.host}:{config.dashboard.port}/"
        code = status(url)
        return "" if code is not None and code < 500 else f"the dashboard at {url} answered {code}"
    if name == "autoscaler":
        # Its /metrics wants the scrape token; any HTTP answer means it is serving.
        url = f"http://{config.autoscaler.listen}/metrics"
        code = status(url)
        return "" if code is not None else f"the autoscaler at {url} did not answer"
    if name == "compose-watchdog":
        import docker
        docker.from_env(timeout=10).ping()         # raises when the engine does not answer
        return ""
    if name == "health":
        from actors.store import open_stores
        open_stores(config).actors.find("healthcheck")   # raises StoreUnavailable when Redis does not answer
        channels.connect(config, name=f"{config.general.instance} healthcheck").close()
        return ""
    queues = consumer_queues(config, name)
    if not queues:
        return f"unknown process {name!r}"
    idle = [q for q in queues if count(config, q) < 1]
    return f"no consumer on {', '.join(idle)}" if idle else ""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print("usage: python -m actors.healthcheck NAME\n"
              "exit 0 when platform process NAME serves: api, tls, spawner, health, accounting, clientg,\n"
              "events, autoscaler, logstream, dashboard, or the compose stack's compose-watchdog")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    config = config_mod.load()
    name = argv[0]
    try:
        if name == "tls":
            problem = check(config, name, status=lambda url: http_status(url, verify=str(config.tls_cert_dir / "ca.pem")))
        else:
            problem = check(config, name)
    except (channels.ChannelUnavailable, requests.RequestException, OSError) as exc:  # not answering
        problem = str(exc)
    except Exception as exc:  # noqa: BLE001 - a health check reports, it does not crash
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        print(f"{name}: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
