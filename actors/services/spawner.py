"""The spawner process: takes commands and starts workers, each as its own process.

For every ``start_worker`` command it moves the worker record REQUESTED -> SPAWNER
SETUP, checks the actor's image is on this Docker host (no registry is reachable, so a
missing image puts the actor in ERROR), starts ``abaco-worker`` in a new session (so a
spawner restart does not take its workers down), and waits for the worker to report
READY before making the actor READY.

Each spawner registers its host in the hosts registry (actors/hosts.py) and heartbeats
there; it consumes the command queues of its ``[spawner] queues`` for every label set
its ``host_labels`` serve, and none while its host runs ``max_workers_per_host`` workers.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

from actors import channels, host_labels, hosts, times, worker_clients
from actors.codes import ActorStatus, WorkerStatus
from actors.config import Config
from actors.installations import Installations
from actors.process import kill_group, pid_alive
from actors.runtime.docker import DockerRuntime, ImageNotFound, RuntimeUnavailable
from actors.services import command_line, start, stop_event
from actors.store import Stores, StoreUnavailable, open_stores

log = logging.getLogger("spawner")


class Spawner:
    def __init__(self, config: Config, stores: Stores, broker: channels.Broker, runtime: DockerRuntime,
                 terminate: threading.Event | None = None):
        self.config, self.stores, self.events, self.runtime = config, stores, broker, runtime
        self.terminate = terminate or threading.Event()
        self.sleep = time.sleep      # while connected: the connection's sleep, which keeps it serviced
        self.installations = Installations(config, self.stores)
        self.running = 0             # workers on this host, as last counted (beat)

    def run(self) -> int:
        # Workers outlive the spawner; let the kernel reap them when they exit.
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        sp = self.config.spawner
        self.beat()
        threading.Thread(target=self._heartbeats, name="host-heartbeat", daemon=True).start()
        # The queues of every label set this host serves (actors/host_labels.py).
        queues = {channels.command_queue(self.config, q, labels): self.on_command
                  for q in sp.queues for labels in host_labels.subsets(sp.host_labels)}
        channels.serve(self.config, queues, self.terminate, prefetch=1, on_ready=self._connected,
                       retry_on=(StoreUnavailable,), gate=self.has_room)
        return 0

    # ------------------------------------------------------------ the host's place in the registry

    def has_room(self) -> bool:
        """Whether this host may start one more worker; when not, the spawner consumes no command.

        A command that arrives while the host is full goes back on its queue unacknowledged,
        so another spawner (or this one, once a worker has exited) takes it: never lost, and
        never started twice (a worker record moves out of REQUESTED once only).
        """
        return not hosts.is_full(self.running, self.config.spawner.max_workers_per_host)

    def beat(self) -> None:
        """Count this host's workers and write its record in the hosts registry."""
        try:
            self.running = hosts.running_workers((w for _, w in self.stores.workers.items()),
                                                 self.config.spawner.host_id)
            hosts.heartbeat(self.config, self.stores, self.running)
        except StoreUnavailable as exc:
            log.warning("host heartbeat skipped: %s", exc)

    def _heartbeats(self) -> None:
        while not self.terminate.wait(self.config.spawner.heartbeat_interval):
            self.beat()

    def _connected(self, conn) -> None:
        self.sleep = conn.sleep   # start_worker keeps the connection serviced while it waits
        sp = self.config.spawner
        log.info("spawner on host %s (labels %s, capacity %s) serving queues %s", sp.host_id,
                 ",".join(sp.host_labels) or "none", sp.max_workers_per_host or "unlimited", ",".join(sp.queues))

    def on_command(self, delivery: channels.Delivery) -> None:
        """Acknowledged once handled (serve does it): the worker record then tells where it stands."""
        command = delivery.data
        if command.get("command") == "start_worker":
            self.start_worker(command, redelivered=delivery.redelivered)
            self.beat()       # count the new worker before the next command
        else:
            log.warning("unknown spawner command %r", command.get("command"))

    def start_worker(self, command: dict, redelivered: bool = False) -> None:
        actor_id, worker_id = str(command.get("actor_id") or ""), str(command.get("worker_id") or "")
        setup = {"status": WorkerStatus.SPAWNER_SETUP, "host_id": self.config.spawner.host_id,
                 "location": self.config.spawner.host_id}
        worker = self.stores.workers.update(worker_id, setup, expect={"status": WorkerStatus.REQUESTED})
        if worker is None and redelivered:
            # A spawner died while starting it: take over if no worker process came of it.
            current = self.stores.workers.find(worker_id)
            if current is not None and current.get("status") == WorkerStatus.SPAWNER_SETUP \
                    and current.get("host_id") == self.config.spawner.host_id and not pid_alive(current.get("pid")):
                log.info("taking over the start of worker %s after a spawner restart", worker_id)
                worker = current
        actor = self.stores.actors.find(actor_id)
        if worker is None:
            log.info("worker %s is no longer requested; skipping", worker_id)
            return
        if actor is None or actor.get("revision") != worker.get("revision"):
            log.info("actor %s is gone or has a newer revision; dropping worker %s", actor_id, worker_id)
            self.stores.workers.delete(worker_id)
            self.events.delete_queue(channels.worker_queue(self.config, worker_id))
            return
        self.installations.begin("worker", worker_id, {
            "worker_id": worker_id, "pidfile": str(self.config.worker_pidfile(worker_id))})
        try:
            self.runtime.check_image(actor["image"])
        except (ImageNotFound, RuntimeUnavailable) as exc:
            self._fail(actor, worker_id, str(exc))
            return
        if actor.get("token"):
            problem = worker_clients.request_client(self.config, self.stores, self.events, actor, worker_id,
                                                    wait=self.sleep)
            if problem:
                log.error("worker %s of actor %s: %s", worker_id, actor_id, problem)
                self.stores.workers.update(worker_id, {"client_error": problem})
        process = self._launch(actor_id, worker_id)
        deadline = time.monotonic() + self.config.spawner.worker_ready_timeout
        while time.monotonic() < deadline:
            current = self.stores.workers.find(worker_id)
            if current is None:
                log.warning("worker %s exited during start-up", worker_id)
                self.installations.remove("worker", worker_id)
                return
            if current.get("status") in (WorkerStatus.READY, WorkerStatus.BUSY):
                self.installations.done("worker", worker_id)
                self._actor_ready(actor_id)
                return
            if process.poll() is not None and current.get("status") == WorkerStatus.SPAWNER_SETUP:
                break
            self.sleep(0.05)
        kill_group(process.pid)
        self._fail(actor, worker_id, f"worker {worker_id} did not become READY within "
                                     f"{self.config.spawner.worker_ready_timeout} s; see the spawner "
                                     f"host's worker logs")

    def _launch(self, actor_id: str, worker_id: str) -> subprocess.Popen:
        self.config.worker_pid_dir.mkdir(parents=True, exist_ok=True)
        self.config.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.config.log_dir / "workers.log"
        cmd = [sys.executable, "-m", "actors.services.worker", "--actor-id", actor_id, "--worker-id", worker_id]
        if self.config.source and self.config.source != "defaults":
            cmd += ["--config", self.config.source]
        with os.fdopen(os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab") as logfile:
            os.fchmod(logfile.fileno(), 0o600)   # also a file an older version left readable
            process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logfile, stderr=logfile,
                                       start_new_session=True, close_fds=True)
        self.config.worker_pidfile(worker_id).write_text(str(process.pid))
        log.info("started worker %s (pid %s) for actor %s", worker_id, process.pid, actor_id)
        return process

    def _actor_ready(self, actor_id: str) -> None:
        actor = self.stores.actors.update(actor_id, {"status": ActorStatus.READY, "status_message": ""},
                                          expect={"status": ActorStatus.SUBMITTED})
        if actor is None:
            actor = self.stores.actors.update(actor_id, {"status": ActorStatus.READY, "status_message": ""},
                                              expect={"status": ActorStatus.ERROR})
        if actor is not None:
            self.events.publish_event("ACTOR_READY", {"actor_id": actor_id})

    def _fail(self, actor: dict, worker_id: str, reason: str) -> None:
        log.warning("actor %s: %s", actor["id"], reason)
        self.stores.workers.delete(worker_id)
        self.installations.remove("worker", worker_id)
        self.stores.actors.update(actor["id"], {"status": ActorStatus.ERROR, "status_message": reason,
                                                "last_update_time": times.now()})
        self.events.publish_event("ACTOR_ERROR", {"actor_id": actor["id"], "message": reason})


def main(argv: list[str] | None = None) -> int:
    args = command_line("abaco-spawner", "Start actor workers on this host when the API "
                        "(or health) asks for them.").parse_args(argv)
    config = start("spawner", args)
    return Spawner(config, open_stores(config), channels.Broker(config), DockerRuntime(config), stop_event()).run()


if __name__ == "__main__":
    sys.exit(main())
