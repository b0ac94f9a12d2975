"""Links between actors: what an id or alias names, and whether a link may be set.

An actor with ``link`` set sends its events, as JSON messages, to the linked actor (the
events process delivers them). A link must name an actor of the same tenant that the
caller may message, and may not close a cycle; a chain is also cut at a fixed depth
when it is delivered, so a cycle made by racing updates cannot loop forever.
"""

from __future__ import annotations

from actors import permissions
from actors.auth import Identity
from actors.codes import Level
from actors.errors import BadRequestError, ForbiddenError
from actors.store import Stores


def resolve(stores: Stores, tenant: str, ref: str) -> dict | None:
    """The actor an id or an alias names, in a tenant."""
    actor = stores.actors.find(ref)
    if actor is None:
        alias = stores.aliases.find(f"{tenant}:{ref}")
        actor = stores.actors.find(alias["actor_id"]) if alias else None
    return actor if actor is not None and actor.get("tenant", "default") == tenant else None


def check_link(stores: Stores, who: Identity, actor_id: str | None, link: str) -> None:
    """400 if ``link`` names no actor or would close a cycle; 403 without EXECUTE on it."""
    target = resolve(stores, who.tenant, link)
    if target is None:
        raise BadRequestError(f"'link' must name an existing actor; there is no actor {link!r}")
    if permissions.level(stores, who, "actor", target) < Level.EXECUTE:
        raise ForbiddenError(f"{who.user} may not send messages to actor {link}, so cannot link to it")
    seen: list[str] = []
    current: dict | None = target
    while current is not None:
        if current["id"] == actor_id or current["id"] in seen:
            chain = " -> ".join([actor_id or "(this actor)", *seen, current["id"]])
            raise BadRequestError(f"'link' would make a cycle: {chain}")
        seen.append(current["id"])
        current = resolve(stores, who.tenant, current["link"]) if current.get("link") else None
