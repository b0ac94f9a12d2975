"""/actors/aliases: names that stand for an actor id in every /actors/{id}/... URL."""

from __future__ import annotations

import re

from flask import Blueprint

from actors import fields, nonces, permissions, times
from actors.api import hypermedia
from actors.api.common import base_url, body_fields, identity, load_actor, ok, services, show
from actors.codes import Level
from actors.errors import BadRequestError, ConflictError

bp = Blueprint("aliases", __name__)

ALIAS = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
RESERVED = {"aliases", "search", "configs", "utilization", "admin", "v2"}   # /actors/v2 is a path prefix


def load_alias(alias: str, level: int) -> dict:
    sv, who = services(), identity()
    doc = sv.stores.aliases.find(f"{who.tenant}:{alias}")
    if doc is None or who.nonce is not None:           # a nonce opens its actor, not alias records
        raise permissions.not_found("alias", alias)
    permissions.require(sv.stores, who, "alias", doc, level, alias)
    return doc


def _display(doc: dict) -> dict:
    out = show(doc)
    out["_links"] = {"self": f"{base_url()}/actors/aliases/{doc['alias']}",
                     "actor": f"{base_url()}/actors/{doc['actor_id']}",
                     "owner": hypermedia.owner(base_url(), doc["owner"])}
    return out


def invalid(detail: str) -> BadRequestError:
    """A bad alias body, in Abaco's words first."""
    return BadRequestError(f"Invalid alias description. {detail}")


def _fields(require_alias: bool) -> dict:
    body = body_fields(fields.ALIAS_INPUT)
    alias = body.get("alias")
    if require_alias and (not isinstance(alias, str) or not ALIAS.match(alias)):
        raise invalid("'alias' must be 1-128 letters, digits, '-', '_' or '.'; got " + repr(alias))
    if alias in RESERVED:
        raise invalid(f"'{alias}' is a reserved word and cannot be an alias")
    if not isinstance(body.get("actor_id"), str) or not body["actor_id"]:
        raise invalid("'actor_id' is required: the actor the alias stands for")
    return body


@bp.get("/actors/aliases")
def list_aliases():
    sv, who = services(), identity()
    docs = [d for _, d in sv.stores.aliases.items()
            if permissions.level(sv.stores, who, "alias", d) >= Level.READ]
    return ok([_display(d) for d in sorted(docs, key=lambda d: d["alias"])], "Aliases retrieved successfully.")


@bp.post("/actors/aliases")
def add_alias():
    sv, who = services(), identity()
    body = _fields(require_alias=True)
    actor = load_actor(body["actor_id"], Level.UPDATE)
    if sv.stores.actors.find(body["alias"]) is not None:
        raise ConflictError(f"Invalid alias description. {body['alias']!r} is already an actor id")
    doc = {"alias": body["alias"], "actor_id": actor["id"], "owner": who.user, "tenant": who.tenant,
           "create_time": times.now()}
    if not sv.stores.aliases.create(f"{who.tenant}:{body['alias']}", doc, group=actor["id"]):
        raise ConflictError(f"Alias {body['alias']} already exists. Delete it first, or use PUT "
                            f"/actors/aliases/{body['alias']} to point it at another actor.")
    return ok(_display(doc), "Alias created successfully.")


@bp.get("/actors/aliases/<alias>")
def get_alias(alias: str):
    return ok(_display(load_alias(alias, Level.READ)), "Alias retrieved successfully.")


@bp.put("/actors/aliases/<alias>")
def update_alias(alias: str):
    sv, who = services(), identity()
    doc = load_alias(alias, Level.UPDATE)
    body = _fields(require_alias=False)
    if body.get("alias") not in (None, alias):
        raise invalid("An alias cannot be renamed; delete it and make a new one")
    actor = load_actor(body["actor_id"], Level.UPDATE)
    key = f"{who.tenant}:{alias}"
    sv.stores.aliases.delete(key)
    doc = {**doc, "actor_id": actor["id"], "last_update_time": times.now()}
    sv.stores.aliases.put(key, doc, group=actor["id"])
    return ok(_display(doc), "Alias updated successfully.")


@bp.delete("/actors/aliases/<alias>")
def delete_alias(alias: str):
    sv, who = services(), identity()
    doc = load_alias(alias, Level.UPDATE)
    sv.stores.aliases.delete(f"{who.tenant}:{alias}")
    permissions.forget(sv.stores, "alias", doc)
    nonces.forget(sv.stores, "alias", doc)
    return ok(None, f"Alias {alias} deleted successfully.")
