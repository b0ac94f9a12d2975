"""/actors/search/{actors|executions|workers|logs} (see actors/search.py)."""

from __future__ import annotations

from flask import Blueprint, request

from actors import models, permissions, search
from actors.api import hypermedia
from actors.api.common import base_url, identity, ok, services, show
from actors.codes import Level
from actors.errors import NotFoundError

bp = Blueprint("search", __name__)
KINDS = ("actors", "executions", "workers", "logs")
# What a hit never shows (Abaco's search drops them): store ids, grants, tenants, expiry.
HIT_HIDDEN = frozenset({"_id", "permissions", "tenant", "exp"})


def _readable_actors() -> list[dict]:
    sv, who = services(), identity()
    return [a for _, a in sv.stores.actors.items() if permissions.level(sv.stores, who, "actor", a) >= Level.READ]


def _documents(kind: str) -> list[dict]:
    st = services().stores
    actors = _readable_actors()
    if kind == "actors":
        return actors
    if kind == "workers":
        return [w for a in actors for w in st.workers.group_docs(a["id"])]
    executions = [e for a in actors for e in st.executions.group_docs(a["id"])]
    if kind == "executions":
        return executions
    return [{"execution_id": e["id"], "actor_id": e["actor_id"],
             "logs": (st.logs.get(e["id"]) or b"").decode("utf-8", errors="replace")} for e in executions]


@bp.get("/actors/search/<kind>")
def run_search(kind: str):
    if kind not in KINDS:
        raise NotFoundError(f"search covers {', '.join(KINDS)}; not {kind!r}")
    docs = [models.display(_view(kind, d), "snake", HIT_HIDDEN) for d in _documents(kind)]
    found = search.run(docs, request.args)
    found["search"] = [_hit(kind, d) for d in found["search"]]
    return ok(found, f"Search of {kind} completed.")


def _view(kind: str, doc: dict) -> dict:
    return models.worker_view(doc) if kind == "workers" else doc


def _hit(kind: str, doc: dict) -> dict:
    """A search hit in the configured case, with its ``_links``."""
    base = base_url()
    if kind == "actors":
        links = hypermedia.actor(base, doc)
    elif kind == "executions":
        links = hypermedia.execution(base, doc)
    elif kind == "workers":
        owner = (services().stores.actors.find(doc["actor_id"]) or {}).get("owner")
        links = hypermedia.worker(base, doc, owner)
    else:
        links = hypermedia.logs(base, doc)
    return dict(show(doc), _links=links)
