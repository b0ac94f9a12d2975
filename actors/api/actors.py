"""/actors and /actors/{id}: register, list, read, update, delete."""

from __future__ import annotations

import logging

from flask import Blueprint

from actors import channels, codes, commands, cron, events, limits, models, permissions
from actors.api.common import (actor_links, identity, json_body, load_actor, ok, services,
                               show)
from actors.errors import BadRequestError, ForbiddenError

log = logging.getLogger("api")
bp = Blueprint("actors", __name__)


def _check_limits(fields: dict) -> None:
    """Ordinary users may not ask for more than the configured limits."""
    who = identity()
    workers = services().config.workers
    if fields.get("privileged") and not who.is_privileged:
        raise ForbiddenError("only privileged users may register privileged actors")
    if fields.get("max_workers", 0) > workers.max_workers_limit and not who.is_privileged:
        raise ForbiddenError(f"max_workers above {workers.max_workers_limit} needs a privileged user")
    if who.role == "limited" and any(k in fields for k in ("max_workers", *limits.ACTOR_LIMIT_FIELDS)):
        raise ForbiddenError("limited users may not set max_workers or resource limits "
                             f"({', '.join(limits.ACTOR_LIMIT_FIELDS)})")
    limits.check_request(services().config, who, fields)


def _check_events(fields: dict, actor_id: str | None = None) -> None:
    """A link must name an actor the caller may message, without a cycle; a webhook an allowed URL."""
    if fields.get("link"):
        events.check_link(services().stores, identity(), actor_id, fields["link"])
    if fields.get("webhook"):
        events.check_webhook(services().config, fields["webhook"])


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
               and permissions.level(st, who, "actor", a) >= codes.READ]
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
               "running": sum(1 for w in workers if w.get("status") == codes.BUSY),
               "ready_actors": sum(1 for a in actors if a.get("status") == codes.READY)},
              "Utilization retrieved successfully.")


@bp.post("/actors")
def register_actor():
    who = identity()
    sv = services()
    fields = models.validate_actor_input(json_body())
    fields.pop("force", None)
    _check_limits(fields)
    _check_events(fields)
    actor = models.new_actor(fields, owner=who.user, tenant=who.tenant,
                             default_max_workers=sv.config.workers.default_max_workers)
    actor.update(cron.fields_for(fields.get("cron_schedule"), fields.get("cron_on", True)))
    actor["owner_role"] = who.role          # limited users' actors get small quotas
    sv.stores.actors.put(actor["id"], actor)
    try:
        commands.request_workers(sv.config, sv.stores, sv.broker, actor, 1)
    except channels.ChannelUnavailable:
        sv.stores.actors.delete(actor["id"])   # nothing half-written
        raise
    log.info("actor %s registered by %s (image %s)", actor["id"], who.user, actor["image"])
    return ok(_display(actor), "Actor created successfully.")


@bp.get("/actors/<actor_id>")
def get_actor(actor_id: str):
    return ok(_display(load_actor(actor_id, codes.READ)), "Actor retrieved successfully.")


@bp.put("/actors/<actor_id>")
def update_actor(actor_id: str):
    sv = services()
    actor = load_actor(actor_id, codes.UPDATE)
    actor_id = actor["id"]   # the URL may have named an alias
    fields = models.validate_actor_input(json_body())
    _check_limits(fields)
    _check_events(fields, actor["id"])
    force = fields.pop("force", False)
    if "stateless" in fields and fields["stateless"] != actor.get("stateless", True):
        raise BadRequestError("'stateless' cannot change after registration; register a new actor")
    if not actor.get("stateless", True) and fields.get("max_workers", 1) != 1:
        raise BadRequestError("a stateful actor has exactly one worker; max_workers must be 1")
    new_revision = force or fields.get("image", actor["image"]) != actor["image"]
    changes = dict(fields, last_update_time=models.now())
    if "cron_schedule" in fields or "cron_on" in fields:
        changes.update(cron.fields_for(fields.get("cron_schedule", actor.get("cron_schedule")),
                                       fields.get("cron_on", actor.get("cron_on", True))))
    if new_revision:
        changes["revision"] = actor["revision"] + 1
        changes["status"] = codes.SUBMITTED
        changes["status_message"] = ""
    updated = sv.stores.actors.update(actor_id, changes, expect={"revision": actor["revision"]})
    if updated is None:
        raise BadRequestError("the actor changed while this update was applied; try again")
    if new_revision:
        commands.stop_old_revisions(sv.config, sv.stores, sv.broker, updated)
        commands.request_workers(sv.config, sv.stores, sv.broker, updated, 1)
    return ok(_display(updated), "Actor updated successfully.")


@bp.delete("/actors/<actor_id>")
def delete_actor(actor_id: str):
    sv = services()
    actor = load_actor(actor_id, codes.UPDATE)
    actor_id = actor["id"]   # the URL may have named an alias
    sv.stores.actors.update(actor_id, {"status": codes.SHUTTING_DOWN})
    for worker in sv.stores.workers.group_docs(actor_id):
        commands.stop_worker(sv.config, sv.broker, worker["id"], kill_running=True, reason="actor deleted")
    sv.broker.delete_queue(channels.actor_queue(sv.config, actor_id))
    for execution_id in sv.stores.executions.group(actor_id):
        sv.stores.executions.delete(execution_id)
        sv.stores.logs.delete(execution_id)
        sv.stores.results.delete(execution_id)
    sv.stores.executions.drop_group(actor_id)
    permissions.forget(sv.stores, "actor", actor_id)
    for key in sv.stores.aliases.group(actor_id):
        alias = sv.stores.aliases.find(key)
        sv.stores.aliases.delete(key)
        if alias is not None:
            permissions.forget(sv.stores, "alias", alias["alias"])
    for nonce_id in sv.stores.nonces.group(f"actor:{actor_id}"):
        sv.stores.nonces.delete(nonce_id)
    sv.stores.actors.delete(actor_id)
    log.info("actor %s deleted by %s", actor_id, identity().user)
    return ok(None, f"Actor {actor['id']} deleted successfully.")
