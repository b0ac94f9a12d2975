"""Links between actors: what an id or alias names, whether a link may be set, what it sends.

An actor with ``link`` set sends some of its events, as JSON messages, to the linked actor
(the events process delivers them): those named in its ``link_events``, EXECUTION_COMPLETE
by default, at most one event per execution, so one message to the head of a chain makes
one execution per actor of the chain, not twice as many at each hop. Each such message
counts the links it has crossed (its hop count, ``link_depth``); past ``[events]
link_max_depth`` the chain stops. A link must name an actor of the same tenant that the
caller may message, and may not close a cycle; the depth limit also ends a cycle made by
racing updates.
"""

from __future__ import annotations

from actors import fields, permissions
from actors.auth import Identity
from actors.codes import Level
from actors.errors import BadRequestError, ForbiddenError
from actors.message import nonneg_int
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
    if target["id"] == actor_id:
        raise BadRequestError(f"An actor cannot link to itself. 'link' names {link}, this actor: a cycle of one.")
    seen: list[str] = []
    current: dict | None = target
    while current is not None:
        if current["id"] == actor_id or current["id"] in seen:
            chain = " -> ".join([actor_id or "(this actor)", *seen, current["id"]])
            raise BadRequestError(f"this update would result in a cycle of linked actors: {chain}")
        seen.append(current["id"])
        current = resolve(stores, who.tenant, current["link"]) if current.get("link") else None


def link_events(actor: dict) -> list[str]:
    """The events the actor's link receives (an actor saved before the field existed: the default)."""
    value = actor.get("link_events")
    return list(fields.BY_NAME["link_events"].default if value is None else value)


def forwards(actor: dict, event_type: str) -> bool:
    """Whether this event of the actor goes to its link at all."""
    return bool(actor.get("link")) and event_type in link_events(actor)


def depth_of(event: dict, execution: dict | None) -> int:
    """The links crossed by the message whose execution the event is about (0 for actor events).

    The worker passes the depth with the event and the execution record keeps it; the larger
    counts, so neither a lost header nor a lost record field can restart a chain at 0.
    """
    return max(nonneg_int(event.get("link_depth")), nonneg_int((execution or {}).get("link_depth")))


def within_depth(depth: int, max_depth: int) -> bool:
    """Whether a message that has crossed ``depth`` links (this one included) may still be sent."""
    return depth <= max_depth
