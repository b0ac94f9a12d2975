"""Requests the API and the health process send to spawners and workers.

Worker records are written (REQUESTED) before the command is published, so two
callers racing to add workers both see each other's requests and never exceed
``max_workers``.
"""

from __future__ import annotations

import logging

from actors import channels, models
from actors.channels import Broker
from actors.codes import WorkerStatus
from actors.config import Config
from actors.store import Stores

log = logging.getLogger(__name__)

LIVE_WORKER = (WorkerStatus.REQUESTED, WorkerStatus.SPAWNER_SETUP, WorkerStatus.READY, WorkerStatus.BUSY)


def live_workers(stores: Stores, actor_id: str, revision: int | None = None) -> list[dict]:
    """Workers that are starting or running (of one revision, when given)."""
    return [w for w in stores.workers.group_docs(actor_id)
            if w.get("status") in LIVE_WORKER and (revision is None or w.get("revision") == revision)]


def request_workers(config: Config, stores: Stores, broker: Broker, actor: dict, num: int) -> list[str]:
    """Ask a spawner for ``num`` more workers of the actor's current revision."""
    ids = []
    for _ in range(num):
        worker = models.new_worker(actor, host_id="")
        stores.workers.put(worker["id"], worker, group=actor["id"])
        try:
            broker.publish_json(channels.command_queue(config, actor.get("queue") or "default",
                                                        actor.get("host_labels") or ()), {
                "command": "start_worker", "actor_id": actor["id"], "worker_id": worker["id"],
                "revision": actor["revision"], "tenant": actor.get("tenant", "default")})
        except channels.ChannelUnavailable:
            stores.workers.delete(worker["id"])
            raise
        ids.append(worker["id"])
    return ids


def ensure_workers(config: Config, stores: Stores, broker: Broker, actor: dict, num: int) -> list[str]:
    """Bring the actor's live workers of its revision up to ``num`` (capped at max_workers)."""
    target = min(num, actor.get("max_workers") or 1)
    missing = target - len(live_workers(stores, actor["id"], actor["revision"]))
    return request_workers(config, stores, broker, actor, missing) if missing > 0 else []


def stop_worker(config: Config, broker: Broker, worker_id: str, kill_running: bool, reason: str) -> None:
    """Tell a worker to stop: after its current execution, or killing it first."""
    broker.publish_json(channels.worker_queue(config, worker_id),
                        {"command": "stop", "kill_running": kill_running, "reason": reason})


def kill_execution(config: Config, broker: Broker, worker_id: str, execution_id: str) -> None:
    broker.publish_json(channels.worker_queue(config, worker_id),
                        {"command": "kill_execution", "execution_id": execution_id})


def stop_old_revisions(config: Config, stores: Stores, broker: Broker, actor: dict) -> int:
    """Stop (after their current execution) every worker of an older revision."""
    count = 0
    for worker in stores.workers.group_docs(actor["id"]):
        if worker.get("revision", 0) < actor["revision"] and worker.get("status") in LIVE_WORKER:
            stop_worker(config, broker, worker["id"], kill_running=False,
                        reason=f"actor revision is now {actor['revision']}")
            count += 1
    return count
