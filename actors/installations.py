"""The installations registry: things the platform makes in several steps, and who makes them.

Before a process starts making such a thing it writes an installation record
(``IN_CREATION``, with its PID and host and the parts it will make); when the steps are
done the record says ``CREATED``; when the thing is taken down the record goes. If the
process dies on the way, the health process on that host finds the record with a dead
PID, marks it ``CORRUPTED``, removes every part and then the record.

Kinds:

- ``execution`` (made by a worker): the execution's scratch folder (results socket,
  binary FIFO) and its cgroup. Its parts outlive a dead worker in any status, so they
  are cleaned whether the record says IN_CREATION or CREATED.
- ``worker`` (made by a spawner): a worker record and process. Only an unfinished one is
  cleaned; a worker that did come up (READY or BUSY) is simply marked CREATED, since
  workers outlive the spawner that started them.
"""

from __future__ import annotations

import logging
import os
import shutil

from actors import times
from actors.codes import WorkerStatus
from actors.config import Config
from actors.process import kill_group, pid_alive
from actors.runtime import cgroups
from actors.store import Stores

log = logging.getLogger(__name__)

IN_CREATION, CREATED, CORRUPTED = "IN_CREATION", "CREATED", "CORRUPTED"


def _key(kind: str, name: str) -> str:
    return f"{kind}:{name}"


class Installations:
    def __init__(self, config: Config, stores: Stores):
        self.config, self.stores = config, stores

    def begin(self, kind: str, name: str, parts: dict) -> None:
        self.stores.installations.put(_key(kind, name), {
            "kind": kind, "name": name, "parts": parts, "status": IN_CREATION, "pid": os.getpid(),
            "host_id": self.config.spawner.host_id, "create_time": times.now()},
            group=self.config.spawner.host_id)

    def done(self, kind: str, name: str) -> None:
        self.stores.installations.update(_key(kind, name), {"status": CREATED})

    def remove(self, kind: str, name: str) -> None:
        self.stores.installations.delete(_key(kind, name))

    # ------------------------------------------------------------ health

    def sweep(self) -> int:
        """Clean what dead processes on this host left half-made; returns how many."""
        cleaned = 0
        for record in self.stores.installations.group_docs(self.config.spawner.host_id):
            if pid_alive(record.get("pid")):
                continue
            if record["kind"] == "worker" and not self._worker_unfinished(record):
                self.stores.installations.update(_key("worker", record["name"]), {"status": CREATED})
                continue
            self.stores.installations.update(_key(record["kind"], record["name"]), {"status": CORRUPTED})
            log.warning("installation %s %s of dead pid %s is corrupted (%s); cleaning it",
                        record["kind"], record["name"], record.get("pid"), record["status"])
            getattr(self, f"_clean_{record['kind']}")(record["parts"])
            self.stores.installations.delete(_key(record["kind"], record["name"]))
            cleaned += 1
        return cleaned

    def _worker_unfinished(self, record: dict) -> bool:
        if record["status"] != IN_CREATION:
            return False
        worker = self.stores.workers.find(record["name"])
        return worker is None or worker.get("status") not in (WorkerStatus.READY, WorkerStatus.BUSY)

    def _clean_execution(self, parts: dict) -> None:
        if parts.get("scratch"):
            shutil.rmtree(parts["scratch"], ignore_errors=True)
        if parts.get("cgroup"):
            cgroups.remove(parts["cgroup"])

    def _clean_worker(self, parts: dict) -> None:
        worker = self.stores.workers.find(parts.get("worker_id", ""))
        if worker is not None and pid_alive(worker.get("pid")):
            kill_group(worker["pid"])
        if worker is not None:
            self.stores.workers.delete(worker["id"])
        if parts.get("pidfile"):
            try:
                os.unlink(parts["pidfile"])
            except FileNotFoundError:
                pass
