"""Nonces: a short secret that stands in for a token on one actor (or alias), N times.

A user with at least a nonce's level on the actor creates it with a level (READ,
EXECUTE, or UPDATE for an actor; READ or EXECUTE for an alias) and ``max_uses`` (-1 for
no limit). A request with ``?x-nonce=<id>`` and no token then acts as the nonce's owner
at that level on that actor only. Each use is counted with a compare-and-set on
``remaining_uses``, so concurrent requests can never use it more than ``max_uses`` times.
"""

from __future__ import annotations

from typing import Any

from actors import models, times
from actors.auth import Identity
from actors.codes import Level
from actors.errors import BadRequestError, ForbiddenError, UnauthorizedError
from actors.store import Stores

ACTOR_LEVELS = (Level.READ, Level.EXECUTE, Level.UPDATE)
ALIAS_LEVELS = (Level.READ, Level.EXECUTE)


def new(stores: Stores, who: Identity, kind: str, obj_id: str, body: dict, held: int) -> dict:
    """Make a nonce; ``held`` is the maker's level, which the nonce may not exceed."""
    allowed = ACTOR_LEVELS if kind == "actor" else ALIAS_LEVELS
    asked = body.get("level", "EXECUTE")
    level = Level.named(asked)
    if level is None or level not in allowed:
        raise BadRequestError(f"'level' of a{'n alias' if kind == 'alias' else 'n actor'} nonce must be one of "
                              f"{', '.join(a.name for a in allowed)}; got {asked!r}")
    max_uses = body.get("max_uses", -1)
    if isinstance(max_uses, str) and max_uses.lstrip("-").isdigit():
        max_uses = int(max_uses)
    if isinstance(max_uses, bool) or not isinstance(max_uses, int) or (max_uses < 1 and max_uses != -1):
        raise BadRequestError(f"'max_uses' must be a whole number of at least 1, or -1 for no limit; got {max_uses!r}")
    if level > held:
        raise ForbiddenError(f"a nonce cannot give more than the {Level(held).name} its maker holds")
    nonce: dict[str, Any] = {"id": models.new_id(20), "kind": kind, "object_id": obj_id, "level": level.name,
             "max_uses": max_uses, "remaining_uses": max_uses, "current_uses": 0, "owner": who.user,
             "role": who.role, "tenant": who.tenant, "create_time": times.now(), "last_use_time": None}
    stores.nonces.put(nonce["id"], nonce, group=f"{kind}:{obj_id}")
    return nonce


def identity_for(stores: Stores, nonce_id: str) -> Identity:
    """Who a request carrying this nonce acts as (401 for an unknown or used-up nonce)."""
    nonce = stores.nonces.find(nonce_id) if nonce_id else None
    if nonce is None:
        raise UnauthorizedError("invalid nonce")
    if nonce["remaining_uses"] == 0:
        raise UnauthorizedError("the nonce has no uses left")
    level = Level[nonce["level"]]
    return Identity(user=nonce["owner"], role="user", tenant=nonce["tenant"],
                    nonce=(nonce["kind"], nonce["object_id"], level, nonce["id"]))


def use(stores: Stores, who: Identity, needed: int, actor: dict, alias: str | None) -> None:
    """Check the nonce covers this request, then count one use (atomically)."""
    if who.nonce is None:
        raise UnauthorizedError("no nonce")
    kind, obj_id, level, nonce_id = who.nonce
    if not ((kind == "actor" and obj_id == actor["id"]) or (kind == "alias" and obj_id == alias)):
        raise ForbiddenError("the nonce is not valid for this actor")
    if level < needed:
        raise ForbiddenError(f"the nonce's level {Level(level).name} is below the "
                             f"{Level(needed).name} this request needs")
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
