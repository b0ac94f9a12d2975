"""The hosts registry: which compute hosts serve the platform, how full they are, which fell silent.

Each spawner writes its host's record (id, labels, queues, capacity
``max_workers_per_host``, pid) every ``[spawner] heartbeat_interval`` seconds. Readers
work out the rest from that record and the worker records, so nothing here can disagree
with what the workers say:

* a host's running workers are the live worker records (REQUESTED excepted: those are
  not on any host yet) that name it;
* a host is full when it runs ``capacity`` workers (capacity 0: never full); a full
  spawner consumes no start command (actors/services/spawner.py);
* a host is ``silent`` when its last heartbeat is older than ``[health]
  host_silent_after``, else ``live``;
* a worker is lost when its host is silent and its own heartbeat is as old: health
  then removes it and its unacknowledged message goes to another worker.

The decisions are plain functions of records and a clock, for unit tests with in-memory
stores. Hosts are platform infrastructure shared by every tenant: their records hold
no tenant data, and what a listing says about workers is counted per tenant.
"""

from __future__ import annotations

import os
import time
from typing import Iterable

from actors import times
from actors.codes import WorkerStatus
from actors.config import Config
from actors.store import Stores

LIVE, SILENT = "live", "silent"
# The worker statuses that hold a place on a host.
ON_HOST = (WorkerStatus.SPAWNER_SETUP, WorkerStatus.READY, WorkerStatus.BUSY, WorkerStatus.STOPPING)


def running_workers(workers: Iterable[dict], host_id: str) -> int:
    """How many of ``workers`` hold a place on host ``host_id``."""
    return sum(1 for w in workers if w.get("host_id") == host_id and w.get("status") in ON_HOST)


def is_full(running: int, capacity: int) -> bool:
    """Whether a host running ``running`` workers may take no more (capacity 0: no cap)."""
    return capacity > 0 and running >= capacity


def status(record: dict, now: float, silent_after: float) -> str:
    """``live`` or ``silent``: whether the host's heartbeat is recent enough."""
    return LIVE if now - times.epoch(record.get("last_heartbeat")) <= silent_after else SILENT


def heartbeat(config: Config, stores: Stores, running: int) -> dict:
    """Write this host's record (the spawner calls it every heartbeat_interval)."""
    sp = config.spawner
    record = {"id": sp.host_id, "labels": list(sp.host_labels), "queues": list(sp.queues),
              "capacity": sp.max_workers_per_host, "running": running, "pid": os.getpid(),
              "last_heartbeat": times.now()}
    previous = stores.hosts.find(sp.host_id)
    record["registered"] = (previous or {}).get("registered") or record["last_heartbeat"]
    stores.hosts.put(sp.host_id, record)
    return record


def silent_hosts(records: Iterable[dict], now: float, silent_after: float) -> set[str]:
    return {r["id"] for r in records if status(r, now, silent_after) == SILENT}


def lost_workers(workers: Iterable[dict], records: Iterable[dict], now: float, silent_after: float) -> list[dict]:
    """Workers on a silent host that have themselves been silent as long.

    A worker on a host that never registered is not judged here (its own host's health
    process supervises it); nor is one still heartbeating (only its spawner died).
    """
    silent = silent_hosts(records, now, silent_after)
    lost = []
    for worker in workers:
        if worker.get("host_id") not in silent:
            continue
        beat = times.epoch(worker.get("last_health_check_time") or worker.get("create_time"))
        if now - beat > silent_after:
            lost.append(worker)
    return lost


def listing(stores: Stores, silent_after: float, tenant: str, now: float | None = None) -> list[dict]:
    """Every registered host as ``GET /admin/hosts`` shows it, by host id.

    ``running_workers`` counts every tenant's workers (that is what fills a host);
    ``tenant_workers`` only the caller's tenant's.
    """
    now = time.time() if now is None else now
    workers = [w for _, w in stores.workers.items()]
    actors_of_tenant = {key for key, actor in stores.actors.items() if actor.get("tenant", "default") == tenant}
    out = []
    for _, record in sorted(stores.hosts.items()):
        host = record["id"]
        out.append({
            "host_id": host, "labels": record.get("labels") or [], "queues": record.get("queues") or [],
            "capacity": record.get("capacity", 0),
            "running_workers": running_workers(workers, host),
            "tenant_workers": running_workers((w for w in workers if w.get("actor_id") in actors_of_tenant), host),
            "last_heartbeat": record.get("last_heartbeat"), "registered": record.get("registered"),
            "status": status(record, now, silent_after),
        })
    return out
