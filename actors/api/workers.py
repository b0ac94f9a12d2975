"""/actors/{id}/workers: list workers, ask for more; /actors/{id}/autoscaling: the autoscaler's decisions."""

from __future__ import annotations

from flask import Blueprint

from actors import autoscale, commands, fields, quotas
from actors.api.common import body_fields, identity, load_actor, ok, services, show, show_worker
from actors.codes import ActorStatus, Level
from actors.errors import BadRequestError, NotFoundError

bp = Blueprint("workers", __name__)


@bp.get("/actors/<actor_id>/workers")
def list_workers(actor_id: str):
    actor = load_actor(actor_id, Level.READ)
    workers = services().stores.workers.group_docs(actor["id"])
    return ok([show_worker(w, actor) for w in workers], "Workers retrieved successfully.")


@bp.get("/actors/<actor_id>/workers/<worker_id>")
def get_worker(actor_id: str, worker_id: str):
    actor = load_actor(actor_id, Level.READ)
    return ok(show_worker(_find_worker(actor, worker_id), actor), "Worker retrieved successfully.")


def _find_worker(actor: dict, worker_id: str) -> dict:
    worker = services().stores.workers.find(worker_id)
    if worker is None or worker.get("actor_id") != actor["id"]:
        raise NotFoundError(f"no worker {worker_id!r} for actor {actor['id']}")
    return worker


@bp.post("/actors/<actor_id>/workers")
def add_workers(actor_id: str):
    sv = services()
    actor = load_actor(actor_id, Level.UPDATE)
    body = body_fields(fields.WORKER_INPUT, required=False)
    num = body.get("num", 1)
    num = fields.int_text(num)
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise BadRequestError(f"'num' must be a whole number of at least 1; got {num!r}")
    if num > actor.get("max_workers", 1):
        raise BadRequestError(f"'num' is {num} but the actor's max_workers is {actor.get('max_workers')}")
    if actor.get("status") == ActorStatus.ERROR:
        raise BadRequestError(f"actor {actor['id']} is in ERROR ({actor.get('status_message')})")
    more = min(num, actor.get("max_workers") or 1) - len(commands.live_workers(sv.stores, actor["id"], actor["revision"]))
    quotas.check_more_workers(sv.config, sv.stores, identity(), actor.get("tenant", "default"), actor["owner"], more)
    started = commands.ensure_workers(sv.config, sv.stores, sv.broker, actor, num)
    return ok({"requested": len(started), "worker_ids": started},
              f"Requested {len(started)} new worker(s); the actor now has (or will have) {num}.")


@bp.delete("/actors/<actor_id>/workers/<worker_id>")
def stop_worker(actor_id: str, worker_id: str):
    """Stop one worker cleanly: it finishes (or requeues) what it runs, then exits."""
    sv = services()
    actor = load_actor(actor_id, Level.UPDATE)
    worker = _find_worker(actor, worker_id)
    commands.stop_worker(sv.config, sv.broker, worker_id, kill_running=False, reason=f"stopped by {identity().user}")
    return ok(show_worker(worker, actor), f"Worker {worker_id} is stopping.")


@bp.get("/actors/<actor_id>/autoscaling")
def autoscaling(actor_id: str):
    """The autoscaler's last decisions for this actor, newest last, with the reason of each."""
    sv = services()
    actor = load_actor(actor_id, Level.READ)
    doc = sv.stores.autoscaling.find(actor["id"]) or {}
    return ok(show({"actor_id": actor["id"], "autoscale": bool(actor.get("autoscale")),
                    "managed": autoscale.manages(sv.config, actor),
                    "min_workers": actor.get("min_workers") or 0, "max_workers": actor.get("max_workers"),
                    "workers": len(commands.live_workers(sv.stores, actor["id"])),
                    "decisions": [show(d) for d in doc.get("decisions") or []]}),
              "Autoscaling decisions retrieved successfully.")
