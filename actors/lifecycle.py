"""Registering, changing and deleting an actor: the operations that touch several stores.

The API's views call these; each one checks what the caller may ask for, then writes
the stores and publishes commands in an order that leaves nothing half-made: a new
actor whose first worker cannot be requested is removed again (503), an update is a
compare-and-set on the revision, and a deletion stops the workers before it forgets
the actor's executions, grants, aliases and nonces.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from actors import (
    channels,
    commands,
    cron,
    fields,
    limits,
    links,
    models,
    nonces,
    permissions,
    quotas,
    times,
    webhooks,
)
from actors.auth import Identity
from actors.codes import ActorStatus, Role
from actors.config import Config
from actors.errors import BadRequestError
from actors.store import Stores

log = logging.getLogger(__name__)


def check_request(config: Config, stores: Stores, who: Identity, given: dict, actor_id: str | None = None) -> None:
    """403 for what the caller may not ask for; 400 for a bad link or webhook."""
    for name in given:
        f = fields.BY_NAME[name]
        if f.who == fields.PRIVILEGED and given[name] != f.default and not who.is_privileged:
            raise fields.only_privileged(name, f"Only privileged users may set {name}.")
    workers = config.workers
    if (given.get("max_workers") or 0) > workers.max_workers_limit and not who.is_privileged:
        raise fields.only_privileged("max_workers", f"max_workers above {workers.max_workers_limit} needs a "
                                                    f"privileged user.")
    limited = [k for k in ("max_workers", *fields.LIMIT_FIELDS) if k in given]
    if who.role == Role.LIMITED and limited:
        raise fields.only_privileged(limited[0], "Users with the limited role may not set max_workers or resource limits "
                                                 f"({', '.join(fields.LIMIT_FIELDS)}).")
    limits.check_request(config, who, given)
    quotas.check_max_workers(config, who, given.get("max_workers"))
    if given.get("link"):
        links.check_link(stores, who, actor_id, given["link"])
    if given.get("webhook"):
        webhooks.check(config.events.webhook_hosts, given["webhook"])


def register(config: Config, stores: Stores, broker: channels.Broker, who: Identity, body: object) -> dict:
    """A new actor owned by the caller, with its first worker requested."""
    given = fields.validate(body)
    given.pop("force", None)
    check_request(config, stores, who, given)
    quotas.check_registration(config, stores, who)
    actor = models.new_actor(given, owner=who.user, tenant=who.tenant,
                             default_max_workers=config.workers.default_max_workers)
    actor.update(cron.fields_for(given.get("cron_schedule"), given.get("cron_on", True),
                                 config.health.cron_max_past_days))
    _check_min_workers(actor)
    actor["owner_role"] = who.role          # limited users' actors get small quotas
    stores.actors.put(actor["id"], actor, group=quotas.owner_group(who.tenant, who.user))
    try:
        commands.request_workers(config, stores, broker, actor, 1)
    except channels.ChannelUnavailable:
        stores.actors.delete(actor["id"])   # nothing half-written
        raise
    log.info("actor %s registered by %s (image %s)", actor["id"], who.user, actor["image"])
    return actor


def update(config: Config, stores: Stores, broker: channels.Broker, who: Identity, actor: dict,
           body: object) -> dict:
    """Apply a PUT; a new image (or ``force``) makes a new revision and restarts the workers."""
    if actor.get("privileged") and not who.is_privileged:
        raise fields.only_privileged("privileged", "Only privileged users may change a privileged actor.")
    given = fields.validate(body)
    check_request(config, stores, who, given, actor["id"])
    force = given.pop("force", False)
    for name in given:
        if fields.BY_NAME[name].fixed and given[name] != actor.get(name, fields.BY_NAME[name].default):
            words = "an actor that was not stateless cannot be updated to be stateless. " \
                if name == "stateless" and given[name] else ""
            raise BadRequestError(f"{words}'{name}' cannot change after registration; register a new actor")
    if not actor.get("stateless", True) and given.get("max_workers", 1) != 1:
        raise BadRequestError(f"{models.ONE_STATEFUL_WORKER}. A stateful actor has exactly one worker; "
                              f"max_workers must be 1")
    _check_min_workers({**actor, **given})
    new_revision = force or given.get("image", actor["image"]) != actor["image"]
    changes = dict(given, last_update_time=times.now())
    changes.update(_cron_changes(config, actor, given))
    if new_revision:
        changes.update(revision=actor["revision"] + 1, status=ActorStatus.SUBMITTED, status_message="")
    updated = stores.actors.update(actor["id"], changes, expect={"revision": actor["revision"]})
    if updated is None:
        raise BadRequestError("the actor changed while this update was applied; try again")
    if new_revision:
        commands.stop_old_revisions(config, stores, broker, updated)
        commands.request_workers(config, stores, broker, updated, 1)
    return updated


def _check_min_workers(actor: dict) -> None:
    low, high = actor.get("min_workers") or 0, actor.get("max_workers") or 1
    if low > high:
        raise BadRequestError(f"'min_workers' ({low}) may not exceed 'max_workers' ({high})")


def _cron_changes(config: Config, actor: dict, given: dict) -> dict:
    """A new schedule is parsed anew (a start too far in the past is a 400); switching an unchanged
    one on or off keeps its start, and on again, it next fires at its next time from now."""
    on = given.get("cron_on", actor.get("cron_on", True))
    schedule = given.get("cron_schedule", actor.get("cron_schedule"))
    if "cron_schedule" in given and schedule != actor.get("cron_schedule"):
        return cron.fields_for(schedule, on, config.health.cron_max_past_days)
    if "cron_on" not in given or not schedule:
        return {}
    changes = {"cron_on": on}
    if on and not actor.get("cron_on"):
        changes["cron_next_ex"] = cron.following(actor, datetime.now(timezone.utc))
    return changes


def delete(config: Config, stores: Stores, broker: channels.Broker, actor: dict) -> None:
    """Stop the actor's workers and forget it with everything that hangs from it."""
    actor_id = actor["id"]
    stores.actors.update(actor_id, {"status": ActorStatus.SHUTTING_DOWN})
    for worker in stores.workers.group_docs(actor_id):
        commands.stop_worker(config, broker, worker["id"], kill_running=True, reason="actor deleted")
    broker.delete_queue(channels.actor_queue(config, actor_id))
    for execution_id in stores.executions.group(actor_id):
        stores.executions.delete(execution_id)
        stores.logs.delete(execution_id)
        stores.results.delete(execution_id)
    stores.executions.drop_group(actor_id)
    permissions.forget(stores, "actor", actor)
    nonces.forget(stores, "actor", actor)
    for key in stores.aliases.group(actor_id):
        alias = stores.aliases.find(key)
        stores.aliases.delete(key)
        if alias is not None:
            permissions.forget(stores, "alias", alias)
            nonces.forget(stores, "alias", alias)
    stores.actors.delete(actor_id)
