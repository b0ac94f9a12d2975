"""The compose stack's watchdog: a service killed from outside (``docker kill``) is started again.

Docker's restart policies restart a container whose process exits or crashes, but never
one stopped by ``docker kill``: the engine counts a kill as a deliberate stop. In the
docker-compose deployment this process (the ``watchdog`` service, one per compose
project) follows the engine's events for the containers of its project and starts again
a container that died without being stopped: a ``die`` that no ``stop`` or ``destroy``
follows within ``GRACE`` seconds (``docker stop``, ``docker-compose stop`` and ``down``
send one; ``docker kill`` does not). A container the engine is already restarting, or
that runs again, is left alone, and so is one whose restart policy is ``no``.

It is not one of ``PROCESSES``: it exists only in the compose deployment (under
``make up`` the processes are not containers), and the engine's restart policy keeps it
up when it crashes.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Iterable

log = logging.getLogger("compose-watchdog")

GRACE = 3.0                         # seconds a stop/destroy may follow a die
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
RESTARTING_POLICIES = ("always", "unless-stopped", "on-failure")


@dataclass
class Pending:
    """Containers that died, and when, waiting to see whether a stop follows."""
    died: dict[str, float] = field(default_factory=dict)

    def observe(self, event: dict, now: float) -> None:
        """Record one engine event (a ``die``, ``stop`` or ``destroy`` of a container)."""
        container = event.get("id") or (event.get("Actor") or {}).get("ID", "")
        action = event.get("Action") or event.get("status")
        if not container:
            return
        if action == "die":
            self.died[container] = now
        elif action in ("stop", "destroy", "start"):
            self.died.pop(container, None)     # deliberate, or restarted already

    def due(self, now: float, grace: float = GRACE) -> list[str]:
        """Containers that died more than ``grace`` seconds ago with no stop since; forgotten once returned."""
        ready = [c for c, t in self.died.items() if now - t >= grace]
        for container in ready:
            del self.died[container]
        return ready


def should_start(state: dict, policy: str) -> bool:
    """A died container is started again when it is not running nor being restarted, and its
    restart policy asks for restarts at all."""
    return policy in RESTARTING_POLICIES and not state.get("Running") and not state.get("Restarting")


class Watchdog:
    def __init__(self, client, project: str, terminate: threading.Event, grace: float = GRACE):
        self.client, self.project, self.terminate, self.grace = client, project, terminate, grace
        self.pending = Pending()
        self.lock = threading.Lock()

    def filters(self) -> dict:
        return {"type": "container", "label": f"{PROJECT_LABEL}={self.project}",
                "event": ["die", "stop", "destroy", "start"]}

    def follow(self, events: Iterable[dict]) -> None:
        for event in events:
            with self.lock:
                self.pending.observe(event, time.monotonic())
            if self.terminate.is_set():
                return

    def restart_due(self) -> list[str]:
        with self.lock:
            due = self.pending.due(time.monotonic(), self.grace)
        started = []
        for container_id in due:
            try:
                container = self.client.containers.get(container_id)
                policy = (container.attrs.get("HostConfig", {}).get("RestartPolicy") or {}).get("Name", "")
                if should_start(container.attrs.get("State", {}), policy):
                    log.warning("service %s (container %s) was killed from outside; starting it again",
                                container.labels.get(SERVICE_LABEL, "?"), container.name)
                    container.start()
                    started.append(container_id)
            except Exception as exc:  # noqa: BLE001 - gone meanwhile, or the engine refused: log, go on
                log.warning("cannot start container %s again: %s", container_id[:12], exc)
        return started

    def run(self) -> int:
        while not self.terminate.is_set():
            events = self.client.events(decode=True, filters=self.filters())
            reader = threading.Thread(target=self.follow, args=(events,), daemon=True)
            reader.start()
            while reader.is_alive() and not self.terminate.is_set():
                self.restart_due()
                self.terminate.wait(0.5)
            events.close()
            if not self.terminate.is_set():
                log.warning("the engine's event stream ended; following it again")
                self.terminate.wait(1)
        return 0


def main(argv: list[str] | None = None) -> int:
    import docker

    from actors.services import command_line, start, stop_event
    parser: argparse.ArgumentParser = command_line(
        "abaco-compose-watchdog", "Start again the containers of a compose project that `docker kill` stopped.")
    parser.add_argument("--project", required=True, help="the compose project to watch (abaco-<instance>)")
    args = parser.parse_args(argv)
    start("compose-watchdog", args)
    log.info("watching the containers of compose project %s", args.project)
    return Watchdog(docker.from_env(), args.project, stop_event()).run()


if __name__ == "__main__":
    sys.exit(main())
