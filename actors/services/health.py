"""The health process: supervises workers and cleans what crashed halfway.

Each round, for this host: a worker whose process is gone, or whose heartbeat is older
than ``[health] worker_dead_after``, is declared dead: its process is killed, its
containers and its record removed (its unacknowledged message goes back to the
mailbox and is run again by another worker, counted as a new attempt; a duplicate
delivery that was parked while it ran is queued again). A worker stuck longer than
``[health] stuck_after`` (REQUESTED or SPAWNER SETUP, or BUSY with an execution that
has ended) is reaped the same way. Containers and cgroups that belong to no live
execution are removed, and so are (through clientg) the OAuth clients of workers that
are gone. An actor left with no worker gets one again (unless ``[workers] worker_ttl``
lets idle workers go, when the next message starts one); idle workers older than
``worker_ttl`` are stopped, except the last one of an actor with the ``sync`` hint.

Workers of other hosts are judged by the hosts registry (actors/hosts.py): when a host
has been silent for ``[health] host_silent_after`` and so have its workers, they are
lost: their records go (their unacknowledged messages are back in the mailbox since
their connections died, and a parked duplicate is queued again), and as many new
workers are requested, which only live hosts' spawners take.
``worker_ttl`` are stopped, except the last one of an actor with the ``sync`` hint. Actors the
autoscaler manages (``autoscale`` on, ``[autoscaler] enabled``) get no worker from health.
"""

from __future__ import annotations

import logging
import sys
import threading
import time

from actors import autoscale, channels, commands, cron, hosts, times, warm, worker_clients
from actors.codes import EXECUTION_TERMINAL, ActorStatus, WorkerStatus
from actors.config import Config
from actors.installations import Installations
from actors.message import Message
from actors.process import kill_group, pid_alive
from actors.runtime import cgroups
from actors.runtime.docker import LABEL_EXECUTION, LABEL_WORKER, DockerRuntime
from actors.services import command_line, start, stop_event
from actors.store import Stores, StoreUnavailable, open_stores

log = logging.getLogger("health")

STARTING = (WorkerStatus.REQUESTED, WorkerStatus.SPAWNER_SETUP)


class Health:
    def __init__(self, config: Config, stores: Stores, broker: channels.Broker, runtime: DockerRuntime,
                 terminate: threading.Event | None = None):
        self.config, self.stores, self.broker, self.runtime = config, stores, broker, runtime
        self.terminate = terminate or threading.Event()
        self.installations = Installations(config, self.stores)

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
        host = self.config.spawner.host_id
        for _key, worker in list(self.stores.workers.items()):
            if worker.get("host_id") not in (host, ""):
                continue
            if self._is_dead(worker, now):
                self._reap(worker)
                done["dead_workers"] += 1
        done["lost_workers"], done["workers_replaced"] = self._reap_lost(now)
        live_workers = set(self.stores.workers.keys())
        for container in self.runtime.containers():
            labels = container.labels or {}
            if labels.get(warm.LABEL_WARM) and labels.get(LABEL_WORKER) in live_workers:
                continue                   # a live worker's warm container (actors/warm.py)
            execution = self.stores.executions.find(labels.get(LABEL_EXECUTION, ""))
            if labels.get(LABEL_WORKER) not in live_workers or execution is None or \
                    execution.get("status") in EXECUTION_TERMINAL and container.status == "exited":
                self.runtime.remove(container.id)
                done["containers_removed"] += 1
        done["cgroups_removed"] = self._clean_cgroups()
        done["installations_cleaned"] = self.installations.sweep()
        done["cron_fired"] = cron.fire_due(self.config, self.stores, self.broker)
        for worker_id in self.stores.worker_clients.keys():
            if worker_id not in live_workers and self.stores.workers.find(worker_id) is None:
                worker_clients.release_client(self.config, self.broker, worker_id)   # its worker died unseen
        done["idle_stopped"] = self._expire_idle(now)
        for actor_id, actor in list(self.stores.actors.items()):
            if self._wants_a_worker(actor, now) and not commands.live_workers(self.stores, actor_id):
                log.info("actor %s (%s) has no worker; requesting one", actor_id, actor.get("status"))
                done["workers_requested"] += len(
                    commands.ensure_workers(self.config, self.stores, self.broker, actor, 1))
        if any(done.values()):
            log.info("health round: %s", done)
        return done

    def _wants_a_worker(self, actor: dict, now: float) -> bool:
        if autoscale.manages(self.config, actor):
            return False           # the autoscaler decides, down to zero
        if self.config.workers.worker_ttl > 0 and "sync" not in (actor.get("hints") or []):
            return False           # idle actors may have no worker; a message starts one
        if actor.get("status") == ActorStatus.READY:
            return True
        # Registered, but its first worker was lost on the way (a spawner crash, say).
        return actor.get("status") == ActorStatus.SUBMITTED and \
            now - times.epoch(actor.get("last_update_time")) > self.config.health.stuck_after

    def _is_dead(self, worker: dict, now: float) -> bool:
        try:
            beat = times.parse(worker.get("last_health_check_time") or worker["create_time"]).timestamp()
        except (KeyError, ValueError):
            beat = 0
        silent = now - beat
        if worker.get("status") in STARTING:
            # The spawner gives up after worker_ready_timeout; allow it that long and more.
            return silent > max(self.config.health.stuck_after, self.config.spawner.worker_ready_timeout)
        if not pid_alive(worker.get("pid")):
            return True
        if silent > self.config.health.worker_dead_after:
            return True
        return self._stuck_busy(worker, now)

    def _stuck_busy(self, worker: dict, now: float) -> bool:
        """BUSY for a while with an execution that has ended (or vanished): the worker hangs."""
        if worker.get("status") != WorkerStatus.BUSY:
            return False
        try:
            since = times.parse(worker.get("last_execution_time") or "").timestamp()
        except ValueError:
            return False
        if now - since < self.config.health.stuck_after:
            return False
        execution = self.stores.executions.find(worker.get("execution_id") or "")
        return execution is None or execution.get("status") in EXECUTION_TERMINAL

    def _reap_lost(self, now: float) -> tuple[int, int]:
        """Remove the workers of silent hosts (actors/hosts.py) and ask live hosts for as many.

        Returns (workers lost, workers requested in their place)."""
        records = [r for _, r in self.stores.hosts.items()]
        if not records:
            return 0, 0
        lost = [w for w in hosts.lost_workers((w for _, w in self.stores.workers.items()), records, now,
                                              self.config.health.host_silent_after)
                if w.get("host_id") != self.config.spawner.host_id]   # this host's: its pids tell
        replace: dict[str, int] = {}
        requested = 0
        for worker in lost:
            log.warning("worker %s of actor %s is lost: its host %s is silent", worker["id"],
                        worker.get("actor_id"), worker.get("host_id"))
            self._reap(worker, local=False)
            replace[worker.get("actor_id", "")] = replace.get(worker.get("actor_id", ""), 0) + 1
        for actor_id, count in replace.items():
            actor = self.stores.actors.find(actor_id)
            if actor is None or actor.get("status") != ActorStatus.READY:
                continue
            have = len(commands.live_workers(self.stores, actor_id, actor["revision"]))
            requested += len(commands.ensure_workers(self.config, self.stores, self.broker, actor, have + count))
        return len(lost), requested

    def _reap(self, worker: dict, local: bool = True) -> None:
        """Remove a dead worker; ``local``: it ran on this host (so its pid is one of ours)."""
        log.warning("worker %s of actor %s is dead (status %s); reaping it",
                    worker["id"], worker.get("actor_id"), worker.get("status"))
        pid = worker.get("pid")
        if local and pid and pid_alive(pid):
            kill_group(pid)
        for container in self.runtime.containers(worker_id=worker["id"]):
            self.runtime.remove(container.id)
        self.stores.workers.delete(worker["id"])
        self._requeue_parked(worker)
        if self.stores.worker_clients.find(worker["id"]) is not None:
            worker_clients.release_client(self.config, self.broker, worker["id"])
        try:
            self.broker.delete_queue(channels.worker_queue(self.config, worker["id"]))
        except channels.ChannelUnavailable:
            pass
        try:
            self.config.worker_pidfile(worker["id"]).unlink()
        except FileNotFoundError:
            pass

    def _requeue_parked(self, worker: dict) -> None:
        """The dead worker's execution had a duplicate delivery parked: queue it again."""
        execution_id = worker.get("execution_id")
        if not execution_id:
            return
        parked = self.stores.parked.get(execution_id)
        execution = self.stores.executions.find(execution_id)
        if parked is None or execution is None or execution.get("status") in EXECUTION_TERMINAL:
            return
        message = Message.from_bytes(parked)
        self.broker.publish(channels.actor_queue(self.config, worker["actor_id"]), message.body,
                            headers=message.headers(), content_type=message.content_type)
        self.stores.parked.delete(execution_id)
        log.warning("execution %s of dead worker %s queued again from its parked copy",
                    execution_id, worker["id"])

    def _expire_idle(self, now: float) -> int:
        """Stop workers idle longer than worker_ttl (keeping one warm for a sync actor)."""
        ttl = self.config.workers.worker_ttl
        if ttl <= 0:
            return 0
        stopped = 0
        for actor_id, actor in list(self.stores.actors.items()):
            workers = commands.live_workers(self.stores, actor_id)
            keep = 1 if "sync" in (actor.get("hints") or []) else 0
            idle = [w for w in workers if w.get("status") == WorkerStatus.READY
                    and now - times.epoch(w.get("last_execution_time") or w.get("create_time")) > ttl]
            for worker in idle[: max(0, len(workers) - keep)]:
                commands.stop_worker(self.config, self.broker, worker["id"], kill_running=False,
                                     reason=f"idle for more than worker_ttl ({ttl} s)")
                stopped += 1
        return stopped

    def _clean_cgroups(self) -> int:
        """Remove execution cgroups whose execution is no longer running here."""
        removed = 0
        base = f"/{self.config.general.instance}"
        for actor_id in cgroups.children(base):
            actor_exists = self.stores.actors.find(actor_id) is not None
            for execution_id in cgroups.children(f"{base}/{actor_id}"):
                if warm.worker_of(execution_id) is not None:
                    if self.stores.workers.find(warm.worker_of(execution_id) or "") is None \
                            and cgroups.remove(f"{base}/{actor_id}/{execution_id}"):
                        removed += 1       # the warm containers' cgroups of a worker that is gone
                    continue
                execution = self.stores.executions.find(execution_id)
                if execution is None or execution.get("status") in EXECUTION_TERMINAL:
                    if cgroups.remove(cgroups.execution_path(self.config.general.instance,
                                                             actor_id, execution_id)):
                        removed += 1
            if not actor_exists and not cgroups.children(f"{base}/{actor_id}"):
                cgroups.remove(cgroups.actor_path(self.config.general.instance, actor_id))
        return removed


def main(argv: list[str] | None = None) -> int:
    parser = command_line("abaco-health", "Supervise workers on this host: reap dead ones, clean leftovers, "
                          "restore worker counts, fire cron schedules.")
    parser.add_argument("--once", action="store_true", help="run one round and exit")
    args = parser.parse_args(argv)
    config = start("health", args)
    health = Health(config, open_stores(config), channels.Broker(config), DockerRuntime(config), stop_event())
    if args.once:
        print(health.check())
        return 0
    return health.run()


if __name__ == "__main__":
    sys.exit(main())
