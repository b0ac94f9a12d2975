"""Pipelined cold starts: the next message's container, created while the current one runs.

With ``[workers] pipeline = true`` a worker takes up to two messages from its actor's
mailbox (prefetch 2). While the first one runs, the second is *held*: its scratch folder,
results socket, FIFO, cgroups and container (with that message's environment) are made
(``ExecutionRun.stage``), so that when the first one ends, starting the second costs only
``docker start``. What this module guarantees:

- Still one execution at a time per worker: a held message is not claimed (its record is
  not touched) until its turn, and its container is started only after the claim succeeds.
- A held message taken back is never run from its prepared container, and that container
  is removed: purged or otherwise ended (its record is terminal, checked every
  ``CHECK_EVERY`` seconds: the message is acknowledged), the worker stopping or losing its
  connection (the message goes back to the queue), or the actor changed since it was
  prepared (a new image, state, environment: it is prepared again from the current actor).
- A worker killed with -9 leaves its prepared container in the ``created`` state, never
  started; the broker hands both unacknowledged messages to another worker, and the health
  process removes containers of dead workers by label.
- A message does not wait here while another worker of the actor is idle: once it has been
  held ``HOLD_SECONDS`` and another worker of the same actor was READY at two reads in a
  row (a worker between two executions is READY for an instant only), it goes back to the
  queue (and this worker takes no more until it is idle), so that worker runs it.

Only plain fresh-container executions are prepared ahead (``eligible``); others are held
without preparation and run as usual on their turn.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from actors.codes import EXECUTION_TERMINAL, ExecutionStatus, WorkerStatus
from actors.config import Config
from actors.store import Stores, StoreUnavailable

if TYPE_CHECKING:
    from actors.execution import ExecutionRun, Staged

log = logging.getLogger(__name__)

HOLD_SECONDS = 2.0       # a held message waits this long before an idle worker may take it over
CHECK_EVERY = 0.5        # seconds between two reads of a held execution's record
VOLATILE = ("cron_next_ex",)   # actor fields that change without changing its containers
HELD = "held_execution_id"     # in the worker's record while it holds a message (see ``held``)


def held_executions(stores: Stores, actor_id: str) -> set[str]:
    """The executions whose messages the actor's workers hold ahead: still waiting, though no
    longer in the queue."""
    return {w[HELD] for w in stores.workers.group_docs(actor_id) if w.get(HELD)}


def held(stores: Stores, actor_id: str) -> int:
    """How many messages the actor's workers hold ahead and still waiting (one whose
    execution a purge has just ended is on its way out of its worker)."""
    return sum(1 for eid in held_executions(stores, actor_id)
               if (stores.executions.find(eid) or {}).get("status") == ExecutionStatus.SUBMITTED)


def fingerprint(actor: dict) -> str:
    """What of an actor shapes its containers; a prepared container fits only the same one."""
    return json.dumps({k: v for k, v in actor.items() if k not in VOLATILE}, sort_keys=True, default=str)


def eligible(config: Config, actor: dict, run: "ExecutionRun") -> bool:
    """Whether the message's container may be made ahead of its turn.

    Not for actors whose executions get the owner's OAuth token (fetched fresh at the
    start) or an HTTPS relay container (it lives only for its execution), nor for warm
    actors (``"warm": true``: their container already runs; their messages are only held).
    """
    return config.workers.pipeline and not actor.get("token") and not actor.get("warm") \
        and not run.relay_needed()


@dataclass
class Ahead:
    """A message held behind the running one, and what is being prepared for it."""

    run: "ExecutionRun"
    tag: int                          # the delivery tag, on connection ``generation``
    generation: int
    actor_fingerprint: str
    held_at: float = field(default_factory=time.monotonic)
    staged: "Staged | None" = None    # once made
    thread: threading.Thread | None = None
    checked_at: float = 0.0
    idle_seen: frozenset = frozenset()   # other workers READY at the last read

    def wait(self) -> "Staged | None":
        """The prepared execution (None if none was made); blocks until preparing is over."""
        if self.thread is not None:
            self.thread.join()
        return self.staged


class Pipeline:
    """The (at most one) message a worker holds ahead, and its preparation."""

    def __init__(self, config: Config, stores: Stores, worker_id: str = ""):
        self.config, self.stores, self.worker_id = config, stores, worker_id
        self.ahead: Ahead | None = None
        self._discarding: list[threading.Thread] = []

    @property
    def enabled(self) -> bool:
        return self.config.workers.pipeline

    def prefetch(self) -> int:
        return 2 if self.enabled else 1

    def hold(self, actor: dict, run: "ExecutionRun", tag: int, generation: int) -> Ahead:
        """Hold a message delivered while another runs; prepare its container in a thread."""
        ahead = Ahead(run, tag, generation, fingerprint(actor))
        if eligible(self.config, actor, run):
            ahead.thread = threading.Thread(target=self._stage, args=(ahead,), daemon=True,
                                            name=f"stage-{run.execution_id}")
            ahead.thread.start()
        self.ahead = ahead
        self._record(run.execution_id)
        return ahead

    def _record(self, execution_id: str | None) -> None:
        """Say in the worker's record which message it holds, so the mailbox's length counts it."""
        if not self.worker_id:
            return
        try:
            self.stores.workers.update(self.worker_id, {HELD: execution_id})
        except StoreUnavailable as exc:
            log.warning("worker %s could not record its held message: %s", self.worker_id, exc)

    def _stage(self, ahead: Ahead) -> None:
        try:
            execution = self.stores.executions.find(ahead.run.execution_id)
            if execution is None or execution.get("status") in EXECUTION_TERMINAL:
                return
            # The attempt the claim will make, for the container's _abaco_execution_attempt.
            execution = dict(execution, attempts=int(execution.get("attempts") or 0) + 1)
            ahead.staged = ahead.run.stage(execution)
            container = getattr(ahead.staged, "container", None)
            log.info("execution %s prepared ahead (container %s)", ahead.run.execution_id,
                     container.id[:12] if container is not None else "not created")
        except Exception:  # noqa: BLE001 - its turn runs it unprepared, and reports what fails then
            log.exception("could not prepare execution %s ahead", ahead.run.execution_id)

    def take(self) -> Ahead | None:
        """The held message, now that its turn has come (it is no longer held)."""
        ahead, self.ahead = self.ahead, None
        if ahead is not None:
            self._record(None)
        return ahead

    def fits(self, ahead: Ahead, actor: dict) -> bool:
        """Whether what was prepared is still right for the actor as it is now."""
        return ahead.actor_fingerprint == fingerprint(actor)

    def discard(self, ahead: Ahead | None) -> None:
        """Undo a preparation (its container removed) without blocking the caller."""
        if ahead is None:
            return

        def undo() -> None:
            staged = ahead.wait()
            if staged is not None:
                ahead.run.unstage(staged)
                log.info("prepared container of execution %s removed", ahead.run.execution_id)
        thread = threading.Thread(target=undo, daemon=True, name=f"unstage-{ahead.run.execution_id}")
        thread.start()
        self._discarding = [t for t in self._discarding if t.is_alive()] + [thread]

    def release(self) -> Ahead | None:
        """Drop the held message's preparation; returns it so its message can be settled."""
        ahead = self.take()
        self.discard(ahead)
        return ahead

    def check(self, worker_id: str, now: float | None = None) -> str | None:
        """What to do with the held message now: "ended" (ack it), "overdue" (requeue it), or None.

        Reads the store at most every ``CHECK_EVERY`` seconds: the held execution's record,
        and once it has waited ``HOLD_SECONDS``, the actor's other workers.
        """
        ahead = self.ahead
        now = time.monotonic() if now is None else now
        if ahead is None or now - ahead.checked_at < CHECK_EVERY:
            return None
        ahead.checked_at = now
        try:
            execution = self.stores.executions.find(ahead.run.execution_id)
            if execution is None or execution.get("status") in EXECUTION_TERMINAL:
                return "ended"
            if now - ahead.held_at > HOLD_SECONDS:
                idle = frozenset(w["id"] for w in self.stores.workers.group_docs(ahead.run.actor["id"])
                                 if w.get("status") == WorkerStatus.READY and w["id"] != worker_id)
                seen_twice, ahead.idle_seen = idle & ahead.idle_seen, idle
                if seen_twice:
                    return "overdue"
        except StoreUnavailable:
            pass
        return None

    def close(self, timeout: float = 15.0) -> None:
        """Wait (bounded) for removals in progress, so a stopping worker leaves no container."""
        deadline = time.monotonic() + timeout
        for thread in self._discarding:
            thread.join(max(0.0, deadline - time.monotonic()))
