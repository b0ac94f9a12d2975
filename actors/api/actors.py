"""/actors and /actors/{id}: register, list, read, update, delete."""

from __future__ import annotations

import logging

from flask import Blueprint

from actors import fields, lifecycle, permissions
from actors.api.common import actor_links, body_fields, identity, load_actor, ok, services, show
from actors.codes import ActorStatus, Level, WorkerStatus
from actors.errors import ForbiddenError

log = logging.getLogger("api")
bp = Blueprint("actors", __name__)


def _display(actor: dict) -> dict:
    out = show(actor)
    out["_links"] = actor_links(actor)
    return out


@bp.get("/actors")
def list_actors():
    who = identity()
    st = services().stores
    docs = st.actors.get_many(st.actors.keys())
    visible = [a for a in docs if a is not None
               and permissions.level(st, who, "actor", a) >= Level.READ]
    visible.sort(key=lambda a: a.get("create_time", ""))
    return ok([_display(a) for a in visible], "Actors retrieved successfully.")


@bp.get("/actors/utilization")
def utilization():
    """Admins: how much the platform holds and runs now, in the caller's tenant."""
    who, st = identity(), services().stores
    if not who.is_admin:
        raise ForbiddenError("only admins may see the utilization")
    actors = [a for _, a in st.actors.items() if a.get("tenant", "default") == who.tenant]
    workers = [w for _, w in st.workers.items() if w.get("actor_id") in {a["id"] for a in actors}]
    executions = sum(len(st.executions.group(a["id"])) for a in actors)
    return ok({"actors": len(actors), "workers": len(workers), "executions": executions,
               "running": sum(1 for w in workers if w.get("status") == WorkerStatus.BUSY),
               "ready_actors": sum(1 for a in actors if a.get("status") == ActorStatus.READY)},
              "Utilization retrieved successfully.")


@bp.post("/actors")
def register_actor():
    sv = services()
    actor = lifecycle.register(sv.config, sv.stores, sv.broker, identity(),
                               body_fields(fields.ACTOR_INPUT, required=False))
    return ok(_display(actor), "Actor created successfully.")


@bp.get("/actors/<actor_id>")
def get_actor(actor_id: str):
    return ok(_display(load_actor(actor_id, Level.READ)), "Actor retrieved successfully.")


@bp.put("/actors/<actor_id>")
def update_actor(actor_id: str):
    sv = services()
    actor = load_actor(actor_id, Level.UPDATE)
    updated = lifecycle.update(sv.config, sv.stores, sv.broker, identity(), actor,
                               body_fields(fields.ACTOR_INPUT))
    return ok(_display(updated), "Actor updated successfully.")


@bp.delete("/actors/<actor_id>")
def delete_actor(actor_id: str):
    sv = services()
    actor = load_actor(actor_id, Level.UPDATE)
    lifecycle.delete(sv.config, sv.stores, sv.broker, actor)
    log.info("actor %s deleted by %s", actor["id"], identity().user)
    return ok(None, f"Actor {actor['id']} deleted successfully.")
