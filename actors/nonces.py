"""Nonces: a short secret that stands in for a token on one actor (or alias), N times.

A user makes one on an actor (or an alias) with a level (READ, EXECUTE, or UPDATE for
an actor; READ or EXECUTE for an alias) and ``max_uses`` (-1 for no limit). A request
with ``?x-nonce=<id>`` and no token then acts as the nonce's maker on that actor only,
through its ``/actors/{id}/...`` routes (the API refuses every other route to a nonce:
it can make nothing, list nothing, read no accounting, metrics or search).

What a nonce gives, at each use, is the least of: its own level, what its maker holds
on the actor *now* (a revoked grant ends it) and, for an alias nonce, what the maker
holds on the alias now. A nonce on a privileged actor gives at most EXECUTE unless its
maker is privileged. Each use is counted with a compare-and-set on ``current_uses``, so
concurrent requests can never use it more than ``max_uses`` times; a request that is
refused is not counted.

Nonces are grouped by their object's scope (tenant, kind, id): listing an alias's nonces
never shows another tenant's nonces on an alias of the same name.
"""

from __future__ import annotations

from typing import Any

from actors import fields, models, permissions, times
from actors.auth import Identity
from actors.codes import PRIVILEGED_ROLES, Level
from actors.errors import BadRequestError, ForbiddenError, NotFoundError, UnauthorizedError
from actors.store import Stores

ACTOR_LEVELS = (Level.READ, Level.EXECUTE, Level.UPDATE)
ALIAS_LEVELS = (Level.READ, Level.EXECUTE)


def new(stores: Stores, who: Identity, kind: str, obj: dict, body: dict, held: int) -> dict:
    """Make a nonce on ``obj`` (an actor or alias document); ``held`` is the maker's level now."""
    if who.nonce is not None:
        raise ForbiddenError("a nonce cannot make nonces")
    allowed = ACTOR_LEVELS if kind == "actor" else ALIAS_LEVELS
    asked = body.get("level", "EXECUTE")
    level = Level.named(asked)
    if level is None or level not in allowed:
        raise BadRequestError(f"'level' of a{'n alias' if kind == 'alias' else 'n actor'} nonce must be one of "
                              f"{', '.join(a.name for a in allowed)}; got {asked!r}")
    max_uses = body.get("max_uses", -1)
    max_uses = fields.int_text(max_uses)
    if isinstance(max_uses, bool) or not isinstance(max_uses, int) or (max_uses < 1 and max_uses != -1):
        raise BadRequestError(f"'max_uses' must be a whole number of at least 1, or -1 for no limit; got {max_uses!r}")
    description = body.get("description", "")
    if not isinstance(description, str) or len(description) > 1024:
        raise BadRequestError("'description' must be text of at most 1024 characters")
    if level > held:
        raise ForbiddenError(f"a nonce cannot give more than the {Level(held).name} its maker holds")
    nonce: dict[str, Any] = {
        "id": models.new_id(20), "kind": kind, "object_id": permissions.object_id(obj), "level": level.name,
        "max_uses": max_uses, "remaining_uses": max_uses, "current_uses": 0, "owner": who.user,
        "role": who.role, "roles": [who.role], "tenant": who.tenant, "description": description,
        "create_time": times.now(), "last_use_time": None}
    stores.nonces.put(nonce["id"], nonce, group=permissions.scope(kind, obj))
    return nonce


def of(stores: Stores, kind: str, obj: dict) -> list[dict]:
    """The nonces made on ``obj``."""
    return stores.nonces.group_docs(permissions.scope(kind, obj))


def find(stores: Stores, kind: str, obj: dict, nonce_id: str) -> dict:
    nonce = stores.nonces.find(nonce_id)
    if nonce is None or nonce["kind"] != kind or nonce["object_id"] != permissions.object_id(obj) \
            or nonce.get("tenant") != (obj.get("tenant") or "default"):
        raise NotFoundError(f"no nonce {nonce_id!r} here")
    return nonce


def forget(stores: Stores, kind: str, obj: dict) -> None:
    """Delete every nonce of an object that is being deleted."""
    group = permissions.scope(kind, obj)
    for nonce_id in stores.nonces.group(group):
        stores.nonces.delete(nonce_id)
    stores.nonces.drop_group(group)


def identity_for(stores: Stores, nonce_id: str) -> Identity:
    """Who a request carrying this nonce acts as (401 for an unknown or used-up nonce)."""
    nonce = stores.nonces.find(nonce_id) if nonce_id else None
    if nonce is None:
        raise UnauthorizedError("invalid nonce")
    if nonce["remaining_uses"] == 0:
        raise UnauthorizedError("the nonce has no uses left")
    return Identity(user=nonce["owner"], role=nonce.get("role") or "user", tenant=nonce["tenant"],
                    nonce=(nonce["kind"], nonce["object_id"], Level[nonce["level"]], nonce["id"]))


def maker(who: Identity) -> Identity:
    """The nonce's maker, as a caller of its own (to ask what they hold now)."""
    return Identity(user=who.user, role=who.role, tenant=who.tenant)


def use(stores: Stores, who: Identity, needed: int, actor: dict, alias: dict | None) -> None:
    """Check the nonce covers this request on ``actor`` (named through ``alias``, if so), then
    count one use, atomically. 403 (nothing counted) when it does not cover it."""
    if who.nonce is None:
        raise UnauthorizedError("no nonce")
    kind, obj_id, own_level, nonce_id = who.nonce
    if not ((kind == "actor" and obj_id == actor["id"]) or
            (kind == "alias" and alias is not None and obj_id == alias["alias"])):
        raise permissions.not_authorized("actor", needed, "The nonce is not valid for this actor.")
    made_by = maker(who)
    level = min(own_level, permissions.level(stores, made_by, "actor", actor))
    if kind == "alias" and alias is not None:
        level = min(level, permissions.level(stores, made_by, "alias", alias))
    if actor.get("privileged") and who.role not in PRIVILEGED_ROLES:
        level = min(level, Level.EXECUTE)
    if level < needed:
        raise permissions.not_authorized("actor", needed, f"The nonce gives {Level(level).name} on this actor now "
                                                          f"(its own level, capped by what its maker holds); "
                                                          f"this request needs {Level(needed).name}.")
    for _ in range(50):
        nonce = stores.nonces.find(nonce_id)
        if nonce is None:
            raise UnauthorizedError("invalid nonce")
        remaining = nonce["remaining_uses"]
        if remaining == 0:
            raise UnauthorizedError("the nonce has no uses left")
        changes = {"current_uses": nonce["current_uses"] + 1, "last_use_time": times.now(),
                   "remaining_uses": remaining if remaining == -1 else remaining - 1}
        if stores.nonces.update(nonce_id, changes, expect={"current_uses": nonce["current_uses"]}) is not None:
            return
    raise UnauthorizedError("the nonce is in heavy use; try again")
