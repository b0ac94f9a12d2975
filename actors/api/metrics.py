"""/metrics: the platform's figures in the Prometheus text format.

Admins only, by default: an admin sees the figures of their own tenant. The Prometheus
`make up` starts reads every tenant's figures with the scrape token in
``<data_dir>/keys/metrics.token`` (a bearer token; actors/credentials.py makes it, 0600).
With ``[web] metrics_open_loopback`` set, callers on the loopback interface may also read
them without a token; callers on the API's unix socket (which actor containers may see)
and through a proxy never count as loopback.

Execution figures come from the accounting store, so each finished execution counts
exactly once; queue depths come from RabbitMQ, worker and actor counts from the stores.
They are computed at each scrape (the cost grows with the number of records kept).
"""

from __future__ import annotations

import hmac
import http.client
import ipaddress
import socket
import xmlrpc.client
from typing import Any

from flask import Blueprint, Response, request

from actors import channels, credentials
from actors.api.common import services
from actors.errors import ForbiddenError
from actors.process import pid_alive
from actors.services import PROCESSES

bp = Blueprint("metrics", __name__)

MEMORY_BUCKETS = (16 * 2**20, 64 * 2**20, 256 * 2**20, 2**30, 4 * 2**30, 16 * 2**30)
RUNTIME_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600)


def _from_loopback() -> bool:
    if request.headers.get("X-Forwarded-For"):
        return False   # relayed by a proxy (the mtls nginx): the real caller is elsewhere
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False   # the unix socket, or something unparseable


def _scraper() -> bool:
    """The caller shows the scrape token of this data directory."""
    token = credentials.scrape_token(services().config.keys_dir)
    given = request.headers.get("Authorization", "")
    return bool(token) and given.startswith("Bearer ") and \
        hmac.compare_digest(given[len("Bearer "):].strip().encode(), token.encode())


def _label(value) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


class Exposition:
    """Builds the text format, one metric family at a time."""

    def __init__(self):
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str, samples) -> None:
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for labels, value in samples:
            text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            self.lines.append(f"{name}{{{text}}} {_number(value)}" if text else f"{name} {_number(value)}")

    def histogram(self, name: str, help_text: str, values: list[float], buckets) -> None:
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
        for bound in buckets:
            below = sum(1 for v in values if v <= bound)
            self.lines.append(f'{name}_bucket{{le="{_number(float(bound))}"}} {below}')
        self.lines.append(f'{name}_bucket{{le="+Inf"}} {len(values)}')
        self.lines.append(f"{name}_sum {_number(float(sum(values)))}")
        self.lines.append(f"{name}_count {len(values)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _count_by(docs, field: str) -> dict:
    counts: dict = {}
    for doc in docs:
        counts[doc.get(field) or ""] = counts.get(doc.get(field) or "", 0) + 1
    return counts


class _UnixTransport(xmlrpc.client.Transport):
    """XML-RPC to supervisord over its control socket."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def make_connection(self, host):
        conn = http.client.HTTPConnection("localhost", timeout=5)
        conn.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.sock.settimeout(5)
        conn.sock.connect(self.path)
        return conn


def _processes_up(config) -> list:
    """Each platform process of this host: 1 while it runs. From supervisord (`make up`) when it
    answers on its control socket, else from the pidfiles of processes started one by one."""
    sock = config.run_dir / "supervisor.sock"
    if sock.exists():
        try:
            proxy = xmlrpc.client.ServerProxy("http://localhost", transport=_UnixTransport(str(sock)))
            infos: Any = proxy.supervisor.getAllProcessInfo()
            return [({"process": i["name"]}, int(i["statename"] == "RUNNING")) for i in sorted(
                infos, key=lambda i: i["name"])]
        except (OSError, xmlrpc.client.Error):
            pass
    out = []
    for process in PROCESSES:
        try:
            pid = int((config.pid_dir / f"{process.name}.pid").read_text().strip() or 0)
        except (OSError, ValueError):
            continue
        out.append(({"process": process.name}, int(pid_alive(pid))))
    return out


@bp.get("/metrics")
def metrics():
    sv = services()
    tenant = None                                   # None: every tenant
    if not (sv.config.web.metrics_open_loopback and _from_loopback()) and not _scraper():
        who = sv.authenticator.identify(request.headers, request.remote_addr)
        if not who.is_admin:
            raise ForbiddenError("/metrics is for admins (of their own tenant)")
        tenant = who.tenant

    def mine(doc: dict) -> bool:
        return tenant is None or (doc.get("tenant") or "default") == tenant
    records = [doc for _, doc in sv.stores.accounting.items() if mine(doc)]
    actors = [doc for _, doc in sv.stores.actors.items() if mine(doc)]
    workers = [doc for _, doc in sv.stores.workers.items() if mine(doc)]
    out = Exposition()
    out.family("abaco_executions_total", "counter", "Finished executions, by final status.",
               [({"status": s}, n) for s, n in sorted(_count_by(records, "status").items())])
    out.family("abaco_execution_cpu_seconds_total", "counter", "CPU seconds used by finished executions.",
               [({}, sum((r.get("cpu_ns") or 0) for r in records) / 1e9)])
    out.family("abaco_execution_io_bytes_total", "counter", "Bytes read and written by finished executions.",
               [({}, sum(int(r.get("io_bytes") or 0) for r in records))])
    out.histogram("abaco_execution_memory_peak_bytes", "Memory peak of finished executions.",
                  [float(r.get("memory_peak") or 0) for r in records], MEMORY_BUCKETS)
    out.histogram("abaco_execution_runtime_seconds", "Wall-clock run time of finished executions.",
                  [float(r.get("runtime") or 0) for r in records], RUNTIME_BUCKETS)
    actors.sort(key=lambda a: a["id"])
    out.family("abaco_actor_queue_depth", "gauge", "Messages waiting in each actor's mailbox.",
               [({"actor": a["id"]}, sv.broker.queue_length(channels.actor_queue(sv.config, a["id"])))
                for a in actors])
    by_actor: dict[str, dict[str, int]] = {a["id"]: {"READY": 0, "BUSY": 0} for a in actors}
    for w in workers:
        counts = by_actor.setdefault(w.get("actor_id") or "", {"READY": 0, "BUSY": 0})
        counts[w.get("status") or ""] = counts.get(w.get("status") or "", 0) + 1
    out.family("abaco_actor_workers", "gauge", "Workers of each actor, by status.",
               [({"actor": a, "status": s}, n) for a, counts in sorted(by_actor.items())
                for s, n in sorted(counts.items())])
    queues = sorted(set(sv.config.spawner.queues) | {a.get("queue") or "default" for a in actors})
    out.family("abaco_command_queue_depth", "gauge", "Start commands waiting for a spawner, by queue.",
               [({"queue": q}, sv.broker.queue_length(channels.command_queue(sv.config, q))) for q in queues])
    out.family("abaco_actors", "gauge", "Actors, by status.",
               [({"status": s}, n) for s, n in sorted(_count_by(actors, "status").items())])
    out.family("abaco_workers", "gauge", "Workers, by status.",
               [({"status": s}, n) for s, n in sorted(_count_by(workers, "status").items())])
    out.family("abaco_executions_running", "gauge", "Executions running now (busy workers).",
               [({}, sum(1 for w in workers if w.get("status") == "BUSY"))])
    if tenant is None:      # the platform's processes (those `make up` keeps a pidfile of), for every tenant
        out.family("abaco_process_up", "gauge", "1 while a platform process of this host runs (from its pidfile).",
                   _processes_up(sv.config))
    return Response(out.text(), mimetype="text/plain", headers={"Content-Type": "text/plain; version=0.0.4"})
