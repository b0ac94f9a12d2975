"""The health process: supervises workers and cleans what crashed halfway.

Each round, for this host: a worker whose process is gone, or whose heartbeat is older
than ``[health] worker_dead_after``, is declared dead: its process is killed, its
containers and its record removed (its unacknowledged message goes back to the
mailbox and is run again by another worker, counted as a new attempt). Containers and
cgroups that belong to no live execution are removed, and so are (through clientg) the
OAuth clients of workers that are gone. A READY actor left with no worker gets one again.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time

from actors import channels, clientg, codes, commands, models
from actors import config as config_mod
from actors.config import Config
from actors.process import setup_logging, stop_event
from actors.runtime import cgroups
from actors.runtime.docker import LABEL_EXECUTION, LABEL_WORKER, DockerRuntime
from actors.store import StoreUnavailable, open_stores

log = logging.getLogger("health")

STARTING = (codes.REQUESTED, codes.SPAWNER_SETUP)


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes.
    try:
        with open(f"/proc/{int(pid)}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Health:
    def __init__(self, config: Config):
        self.config = config
        self.stores = open_stores(config)
        self.broker = channels.Broker(config)
        self.runtime = DockerRuntime(config)
        self.terminate = stop_event()

    def run(self) -> int:
        while not self.terminate.is_set():
            try:
                self.check()
            except (StoreUnavailable, channels.ChannelUnavailable) as exc:
                log.warning("health round skipped: %s", exc)
            except Exception:  # noqa: BLE001 - keep supervising whatever one round hit
                log.exception("health round failed")
            self.terminate.wait(self.config.health.interval)
        return 0

    def check(self) -> dict:
        """One supervision round; returns counts of what it did (for tests and logs)."""
        done = {"dead_workers": 0, "containers_removed": 0, "cgroups_removed": 0, "workers_requested": 0}
        now = time.time()
        host = self.config.general.host_id
        for key, worker in list(self.stores.workers.items()):
            if worker.get("host_id") not in (host, ""):
                continue
            if self._is_dead(worker, now):
                self._reap(worker)
                done["dead_workers"] += 1
        live_workers = set(self.stores.workers.keys())
        for container in self.runtime.containers():
            labels = container.labels or {}
            execution = self.stores.executions.find(labels.get(LABEL_EXECUTION, ""))
            if labels.get(LABEL_WORKER) not in live_workers or execution is None or \
                    execution.get("status") in codes.EXECUTION_TERMINAL and container.status == "exited":
                self.runtime.remove(container.id)
                done["containers_removed"] += 1
        done["cgroups_removed"] = self._clean_cgroups()
        for worker_id in self.stores.worker_clients.keys():
            if worker_id not in live_workers and self.stores.workers.find(worker_id) is None:
                clientg.release_client(self.config, self.broker, worker_id)   # its worker died unseen
        for actor_id, actor in list(self.stores.actors.items()):
            if actor.get("status") == codes.READY and not commands.live_workers(self.stores, actor_id):
                log.info("actor %s has no worker; requesting one", actor_id)
                done["workers_requested"] += len(
                    commands.ensure_workers(self.config, self.stores, self.broker, actor, 1))
        if any(done.values()):
            log.info("health round: %s", done)
        return done

    def _is_dead(self, worker: dict, now: float) -> bool:
        try:
            beat = models.parse_time(worker.get("last_health_check_time") or worker["create_time"]).timestamp()
        except (KeyError, ValueError):
            beat = 0
        silent = now - beat
        if worker.get("status") in STARTING:
            # The spawner gives up after worker_ready_timeout; allow it that long and more.
            return silent > max(self.config.health.worker_dead_after,
                                2 * self.config.spawner.worker_ready_timeout)
        if not pid_alive(worker.get("pid")):
            return True
        return silent > self.config.health.worker_dead_after

    def _reap(self, worker: dict) -> None:
        log.warning("worker %s of actor %s is dead (status %s); reaping it",
                    worker["id"], worker.get("actor_id"), worker.get("status"))
        pid = worker.get("pid")
        if pid and pid_alive(pid):
            try:
                os.killpg(int(pid), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for container in self.runtime.containers(worker_id=worker["id"]):
            self.runtime.remove(container.id)
        self.stores.workers.delete(worker["id"])
        if self.stores.worker_clients.find(worker["id"]) is not None:
            clientg.release_client(self.config, self.broker, worker["id"])
        try:
            self.broker.delete_queue(channels.worker_queue(self.config, worker["id"]))
        except channels.ChannelUnavailable:
            pass
        try:
            (self.config.data_dir / "pids" / "workers" / f"{worker['id']}.pid").unlink()
        except FileNotFoundError:
            pass

    def _clean_cgroups(self) -> int:
        """Remove execution cgroups whose execution is no longer running here."""
        removed = 0
        base = f"/{self.config.general.instance}"
        for actor_id in cgroups.children(base):
            actor_exists = self.stores.actors.find(actor_id) is not None
            for execution_id in cgroups.children(f"{base}/{actor_id}"):
                execution = self.stores.executions.find(execution_id)
                if execution is None or execution.get("status") in codes.EXECUTION_TERMINAL:
                    if cgroups.remove(cgroups.execution_path(self.config.general.instance,
                                                             actor_id, execution_id)):
                        removed += 1
            if not actor_exists and not cgroups.children(f"{base}/{actor_id}"):
                cgroups.remove(cgroups.actor_path(self.config.general.instance, actor_id))
        return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="abaco-health",
        description="Supervise workers on this host: reap dead ones, clean leftovers, restore worker counts.")
    parser.add_argument("--config", help="path to abaco.conf (default: $ABACO_CONF or ./abaco.conf)")
    parser.add_argument("--once", action="store_true", help="run one round and exit")
    args = parser.parse_args(argv)
    config = config_mod.load(args.config)
    setup_logging("health", config)
    health = Health(config)
    if args.once:
        print(health.check())
        return 0
    return health.run()


if __name__ == "__main__":
    sys.exit(main())
