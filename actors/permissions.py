"""What a caller may do with an actor, an alias or a config: the one place that decides.

Levels are ordered NONE < READ < EXECUTE < UPDATE. The owner of an object and admins
hold UPDATE; anyone else holds the highest of what was granted to them and to the
special user ``ABACO_WORLD`` (everyone in the tenant). A caller who came with a nonce
holds the nonce's level on the nonce's actor (or alias) only, and nothing elsewhere.

Grants live in the ``permissions`` store, one document per (object, user), grouped by
object, so a grant or a revocation is one atomic write.

``require`` answers 404 to a caller with no access at all (so an object's existence
does not leak) and 403 to one whose level is too low.
"""

from __future__ import annotations

from actors.auth import Identity
from actors.codes import Level
from actors.errors import BadRequestError, ForbiddenError, NotFoundError
from actors.store import Stores

WORLD = "ABACO_WORLD"


def _object(kind: str, obj_id: str) -> str:
    return f"{kind}:{obj_id}"


def object_id(obj: dict) -> str:
    """What names an actor (its id), an alias (its name) or a config (its name) in grants."""
    return str(obj.get("id") or obj.get("alias") or obj.get("name") or "")


def parse_level(value) -> int:
    level = Level.named(value)
    if level is None:
        raise BadRequestError(f"'level' must be one of {', '.join(Level.__members__)}; got {value!r}")
    return level


def level(stores: Stores, who: Identity, kind: str, obj: dict) -> int:
    """The level ``who`` holds on ``obj`` (an actor, alias or config document)."""
    if (obj.get("tenant") or "default") != who.tenant:
        return Level.NONE
    if who.nonce is not None:
        return who.nonce_level_on(kind, obj)
    if who.is_admin or who.user == obj.get("owner"):
        return Level.UPDATE
    group = _object(kind, object_id(obj))
    best = Level.NONE
    for user in (who.user, WORLD):
        grant = stores.permissions.find(f"{group}:{user}")
        if grant is not None:
            best = max(best, Level.named(grant.get("level")) or Level.NONE)
    return best


def require(stores: Stores, who: Identity, kind: str, obj: dict, needed: int, what: str) -> None:
    held = level(stores, who, kind, obj)
    if held >= needed:
        return
    if held == Level.NONE:
        raise NotFoundError(f"no {what}")
    raise ForbiddenError(f"{who.user} holds {Level(held).name} on {what}; "
                         f"this needs {Level(needed).name}")


def grant(stores: Stores, kind: str, obj_id: str, user: str, new_level: int) -> None:
    """Set ``user``'s level on the object (NONE removes the grant)."""
    if not isinstance(user, str) or not user.strip() or len(user) > 256:
        raise BadRequestError("'user' must be a user name (or ABACO_WORLD for everyone)")
    group = _object(kind, obj_id)
    key = f"{group}:{user}"
    if new_level == Level.NONE:
        stores.permissions.delete(key)
    else:
        stores.permissions.put(key, {"user": user, "level": Level(new_level).name}, group=group)


def listing(stores: Stores, kind: str, obj: dict) -> dict:
    """{user: level} for the object, its owner included."""
    obj_id = object_id(obj)
    out = {obj.get("owner"): "UPDATE"}
    for doc in stores.permissions.group_docs(_object(kind, obj_id)):
        out[doc["user"]] = doc["level"]
    return out


def forget(stores: Stores, kind: str, obj_id: str) -> None:
    """Drop every grant on an object that is being deleted."""
    group = _object(kind, obj_id)
    for key in stores.permissions.group(group):
        stores.permissions.delete(key)
    stores.permissions.drop_group(group)
