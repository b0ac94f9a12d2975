"""What a caller may do with an actor, an alias or a config: the one place that decides.

Levels are ordered NONE < READ < EXECUTE < UPDATE. The owner of an object and admins
(of the object's tenant) hold UPDATE; anyone else holds the highest of what was granted
to them and to the special user ``ABACO_WORLD`` (everyone in the tenant). A caller who
came with a nonce holds the nonce's level on the nonce's actor (or alias) only, and
nothing elsewhere (``actors/nonces.py`` caps it by its maker's level at each use).

Grants live in the ``permissions`` store, one document per (object, user), grouped by
object. Every key carries the object's tenant (:func:`scope`), so a grant made in one
tenant can never name, list or reach an object of another, even one with the same
alias or config name. A grant or a revocation is one atomic write.

``require`` answers 404 to a caller with no access at all, with the words an unknown
object gets (so an object's existence does not leak), and 403 to one whose level is too
low (Abaco's 400 in ``[web] compat = abaco``). Messages start with Abaco's phrases
(:func:`not_found`, :func:`not_authorized`).
"""

from __future__ import annotations

from actors.auth import Identity
from actors.codes import Level
from actors.errors import BadRequestError, ForbiddenError, NotFoundError
from actors.store import Stores

WORLD = "ABACO_WORLD"
KINDS = ("actor", "alias", "config")


def object_id(obj: dict) -> str:
    """What names an actor (its id), an alias (its name) or a config (its name)."""
    return str(obj.get("id") or obj.get("alias") or obj.get("name") or "")


def scope(kind: str, obj: dict) -> str:
    """The key that names one object among all tenants' (``tenant/kind:id``): the group of its
    grants, and of its nonces."""
    return f"{obj.get('tenant') or 'default'}/{kind}:{object_id(obj)}"


def parse_level(value) -> Level:
    level = Level.named(value)
    if level is None:
        raise BadRequestError(f"'level' must be one of {', '.join(Level.__members__)}; got {value!r}")
    return level


def level(stores: Stores, who: Identity, kind: str, obj: dict) -> Level:
    """The level ``who`` holds on ``obj`` (an actor, alias or config document)."""
    if (obj.get("tenant") or "default") != who.tenant:
        return Level.NONE
    if who.nonce is not None:
        return Level(who.nonce_level_on(kind, obj))
    if who.is_admin or who.user == obj.get("owner"):
        return Level.UPDATE
    group = scope(kind, obj)
    best = Level.NONE
    for user in (who.user, WORLD):
        grant = stores.permissions.find(f"{group}:{user}")
        if grant is not None:
            best = max(best, Level.named(grant.get("level")) or Level.NONE)
    return best


def not_found(kind: str, name: str) -> NotFoundError:
    """Abaco's words for an actor, alias or config that does not exist (or that the caller may not see)."""
    phrase = {"actor": f"No actor found with id: {name}.", "alias": f"No alias found: {name}.",
              "config": f"No config found: {name}."}[kind]
    return NotFoundError(phrase)


def not_authorized(kind: str, needed: int, detail: str = "") -> ForbiddenError:
    """Abaco's words for a caller whose level on an actor, alias or config is too low."""
    if kind == "config":
        phrase = f"Not authorized -- you do not have {Level(needed).name} access to this actor config."
    else:
        phrase = f"Not authorized -- you do not have access to this {kind}."
    return ForbiddenError(f"{phrase} {detail}".rstrip())


def require(stores: Stores, who: Identity, kind: str, obj: dict, needed: int, name: str) -> None:
    """Pass if ``who`` holds ``needed`` on ``obj`` (which the caller called ``name``)."""
    held = level(stores, who, kind, obj)
    if held >= needed:
        return
    if held == Level.NONE:
        raise not_found(kind, name)
    raise not_authorized(kind, needed, f"{who.user} holds {held.name} on {kind} {name}; "
                                       f"this needs {Level(needed).name}.")


def grant(stores: Stores, kind: str, obj: dict, user: str, new_level: int) -> None:
    """Set ``user``'s level on the object (NONE removes the grant), in the object's tenant."""
    if not isinstance(user, str) or not user.strip() or len(user) > 256:
        raise BadRequestError("'user' must be a user name (or ABACO_WORLD for everyone)")
    group = scope(kind, obj)
    key = f"{group}:{user}"
    if new_level == Level.NONE:
        stores.permissions.delete(key)
    else:
        stores.permissions.put(key, {"user": user, "level": Level(new_level).name}, group=group)


def listing(stores: Stores, kind: str, obj: dict) -> dict:
    """{user: level} for the object, its owner included."""
    out = {obj.get("owner"): "UPDATE"}
    for doc in stores.permissions.group_docs(scope(kind, obj)):
        out[doc["user"]] = doc["level"]
    return out


def forget(stores: Stores, kind: str, obj: dict) -> None:
    """Drop every grant on an object that is being deleted."""
    group = scope(kind, obj)
    for key in stores.permissions.group(group):
        stores.permissions.delete(key)
    stores.permissions.drop_group(group)
