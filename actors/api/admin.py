"""Who is calling (``/whoami``), and the admin views across actors (``/admin/...``).

``GET /whoami`` tells any signed-in caller their user, role and tenant (the dashboard
shows admin pages only to admins; the API still refuses everyone else). The ``/admin``
routes are for admins only, and see only their own tenant:

- ``GET /admin/overview``: actors, workers and executions by status, messages waiting
  (in total and per actor), workers per host;
- ``GET /admin/workers``: every worker of the tenant's actors (``status=`` filters);
- ``GET /admin/executions``: executions across the tenant's actors, newest first
  (``status=``, ``actor=``, ``offset``, ``limit`` up to 1000);
- ``GET /admin/hosts``: the compute hosts in the hosts registry (actors/hosts.py): id,
  labels, queues, capacity, running workers, last heartbeat, live or silent.

Stopping a worker or force-quitting an execution uses the actor's own routes, where an
admin holds UPDATE.
"""

from __future__ import annotations

from flask import Blueprint, request

from actors import channels, hosts, models
from actors.api.common import identity, ok, services, show, show_worker
from actors.auth import Identity
from actors.errors import BadRequestError, ForbiddenError

bp = Blueprint("admin", __name__)

MAX_LIMIT = 1000


def _admin() -> Identity:
    who = identity()
    if not who.is_admin:
        raise ForbiddenError("only admins may see the platform's admin views")
    return who


def _count_by(docs, key: str) -> dict:
    out: dict[str, int] = {}
    for doc in docs:
        status = str(doc.get(key) or "UNKNOWN")
        out[status] = out.get(status, 0) + 1
    return dict(sorted(out.items()))


def _tenant_actors(tenant: str) -> list[dict]:
    st = services().stores
    return [a for a in st.actors.get_many(st.actors.keys())
            if a is not None and (a.get("tenant") or "default") == tenant]


def _int_arg(name: str, default: int, high: int) -> int:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequestError(f"'{name}' must be a whole number; got {raw!r}") from None
    if not 0 <= value <= high:
        raise BadRequestError(f"'{name}' must be between 0 and {high}")
    return value


@bp.get("/whoami")
def whoami():
    who = identity()
    return ok({"user": who.user, "role": who.role, "tenant": who.tenant, "is_admin": who.is_admin},
              "Caller identified.")


@bp.get("/admin/overview")
def overview():
    who = _admin()
    sv = services()
    actors = _tenant_actors(who.tenant)
    ids = [a["id"] for a in actors]
    workers = [w for w in sv.stores.workers.get_many(sv.stores.workers.keys())
               if w is not None and w.get("actor_id") in set(ids)]
    statuses: dict[str, int] = {}
    for actor_id in ids:
        for doc in sv.stores.executions.group_docs(actor_id):
            status = str(doc.get("status") or "UNKNOWN")
            statuses[status] = statuses.get(status, 0) + 1
    waiting = [{"actor_id": a["id"], "name": a.get("name"),
                "waiting": sv.broker.queue_length(channels.actor_queue(sv.config, a["id"]))} for a in actors]
    waiting = [w for w in waiting if w["waiting"]]
    waiting.sort(key=lambda w: -w["waiting"])
    return ok({
        "actors": _count_by(actors, "status"),
        "workers": _count_by(workers, "status"),
        "executions": dict(sorted(statuses.items())),
        "messages_waiting": sum(w["waiting"] for w in waiting),
        "queues": waiting[:50],
        "hosts": _count_by(workers, "host_id"),
    }, "Overview retrieved successfully.")


@bp.get("/admin/hosts")
def list_hosts():
    who, sv = identity(), services()
    if not who.is_admin:
        raise ForbiddenError("only admins may list the compute hosts")
    listing = hosts.listing(sv.stores, sv.config.health.host_silent_after, who.tenant)
    return ok([show(h) for h in listing], "Hosts retrieved successfully.")


@bp.get("/admin/workers")
def all_workers():
    who = _admin()
    st = services().stores
    actors = {a["id"]: a for a in _tenant_actors(who.tenant)}
    status = request.args.get("status", "").strip().upper() or None
    workers = [w for w in st.workers.get_many(st.workers.keys())
               if w is not None and w.get("actor_id") in actors and (status is None or w.get("status") == status)]
    workers.sort(key=lambda w: (w.get("actor_id"), w.get("create_time") or ""))
    out = []
    for worker in workers:
        shown = show_worker(worker, actors[worker["actor_id"]])
        shown.update(show({"actor_id": worker["actor_id"], "host_id": worker.get("host_id")}))
        out.append(shown)
    return ok(out, "Workers retrieved successfully.")


@bp.get("/admin/executions")
def all_executions():
    who = _admin()
    st = services().stores
    actors = {a["id"]: a for a in _tenant_actors(who.tenant)}
    status = request.args.get("status", "").strip().upper() or None
    only = request.args.get("actor", "").strip() or None
    offset, limit = _int_arg("offset", 0, 10**9), _int_arg("limit", 100, MAX_LIMIT)
    docs = []
    for actor_id in actors if only is None else [a for a in actors if a == only]:
        docs.extend(d for d in st.executions.group_docs(actor_id) if status is None or d.get("status") == status)
    docs.sort(key=lambda d: d.get("message_received_time") or "", reverse=True)
    page = [show(dict(models.execution_summary(d), actor_id=d.get("actor_id"),
                      owner=actors[d["actor_id"]].get("owner") if d.get("actor_id") in actors else None,
                      runtime=d.get("runtime"), cpu=d.get("cpu"), memory_peak=d.get("memory_peak")))
            for d in docs[offset:offset + limit]]
    return ok({"total": len(docs), "offset": offset, "limit": limit, "executions": page},
              "Executions retrieved successfully.")
