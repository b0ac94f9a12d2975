"""/admin/...: the platform's own state, for admins only.

``GET /admin/hosts`` lists the compute hosts in the hosts registry (actors/hosts.py):
id, labels, queues, capacity, running workers, last heartbeat, live or silent.
"""

from __future__ import annotations

from flask import Blueprint

from actors import hosts
from actors.api.common import identity, ok, services, show
from actors.errors import ForbiddenError

bp = Blueprint("admin", __name__)


@bp.get("/admin/hosts")
def list_hosts():
    who, sv = identity(), services()
    if not who.is_admin:
        raise ForbiddenError("only admins may list the compute hosts")
    listing = hosts.listing(sv.stores, sv.config.health.host_silent_after, who.tenant)
    return ok([show(h) for h in listing], "Hosts retrieved successfully.")
