"""Per-user quotas ([quotas] in abaco.conf): how many actors and workers one user may hold.

A user's actors are indexed by owner (the actor store's group ``owner_group``), so the
counts read one index rather than every actor. Admins are exempt. Two registrations
racing at the very edge may both pass: the quotas bound what a heavy user holds, they are
not an exact ledger. The queued-messages cap is per actor and lives with sending, in
``actors/mailbox.py``.
"""

from __future__ import annotations

from actors import commands
from actors.auth import Identity
from actors.config import Config
from actors.errors import TooManyRequestsError
from actors.store import Stores


def owner_group(tenant: str, user: str) -> str:
    """The actor store's group of one user's actors."""
    return f"owner:{tenant}:{user}"


def user_workers(stores: Stores, tenant: str, user: str) -> int:
    """Live (starting or running) workers of all of a user's actors."""
    return sum(len(commands.live_workers(stores, actor_id))
               for actor_id in stores.actors.group(owner_group(tenant, user)))


def check_registration(config: Config, stores: Stores, who: Identity) -> None:
    """429 when the caller owns ``max_actors_per_user`` actors or has no worker left for a new one."""
    if who.is_admin:
        return
    q = config.quotas
    owned = len(stores.actors.group(owner_group(who.tenant, who.user)))
    if q.max_actors_per_user and owned >= q.max_actors_per_user:
        raise TooManyRequestsError(f"you own {owned} actors; the quota is {q.max_actors_per_user} "
                                   f"([quotas] max_actors_per_user): delete one first")
    check_more_workers(config, stores, who, who.tenant, who.user, 1)


def check_max_workers(config: Config, who: Identity, max_workers: int | None) -> None:
    """429 for an actor's ``max_workers`` above what its owner may have in all."""
    cap = config.quotas.max_workers_per_user
    if cap and not who.is_admin and max_workers and max_workers > cap:
        raise TooManyRequestsError(f"max_workers is {max_workers}; a user may have at most {cap} workers "
                                   f"in all ([quotas] max_workers_per_user)")


def check_more_workers(config: Config, stores: Stores, who: Identity, tenant: str, owner: str, more: int) -> None:
    """429 when ``more`` workers would take the owner's actors past ``max_workers_per_user``."""
    cap = config.quotas.max_workers_per_user
    if not cap or who.is_admin or more <= 0:
        return
    live = user_workers(stores, tenant, owner)
    if live + more > cap:
        raise TooManyRequestsError(f"{owner}'s actors have {live} live workers; {more} more would pass the "
                                   f"quota of {cap} ([quotas] max_workers_per_user)")
