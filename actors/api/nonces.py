"""/actors/{id}/nonces and /actors/aliases/{alias}/nonces (see actors/nonces.py)."""

from __future__ import annotations

from flask import Blueprint

from actors import fields, nonces, permissions
from actors.api.aliases import load_alias
from actors.api.common import body_fields, identity, load_actor, ok, services, show_nonce
from actors.codes import Level
from actors.errors import ForbiddenError

bp = Blueprint("nonces", __name__)


def _create(kind: str, obj: dict, held: int):
    sv, who = services(), identity()
    body = body_fields(fields.NONCE_INPUT, required=False)
    if kind == "actor" and obj.get("privileged") and not who.is_privileged and \
            (Level.named(body.get("level", "EXECUTE")) or Level.NONE) >= Level.UPDATE:
        raise ForbiddenError("only privileged users may make an UPDATE nonce on a privileged actor")
    nonce = nonces.new(sv.stores, who, kind, obj, body, held)
    return ok(show_nonce(nonce), "Nonce created successfully.")


def _held(kind: str, obj: dict) -> Level:
    return permissions.level(services().stores, identity(), kind, obj)


@bp.get("/actors/<actor_id>/nonces")
def list_actor_nonces(actor_id: str):
    actor = load_actor(actor_id, Level.UPDATE)
    return ok([show_nonce(n) for n in nonces.of(services().stores, "actor", actor)], "Nonces retrieved successfully.")


@bp.post("/actors/<actor_id>/nonces")
def create_actor_nonce(actor_id: str):
    actor = load_actor(actor_id, Level.READ)
    return _create("actor", actor, _held("actor", actor))


@bp.get("/actors/<actor_id>/nonces/<nonce_id>")
def get_actor_nonce(actor_id: str, nonce_id: str):
    actor = load_actor(actor_id, Level.UPDATE)
    return ok(show_nonce(nonces.find(services().stores, "actor", actor, nonce_id)), "Nonce retrieved successfully.")


@bp.delete("/actors/<actor_id>/nonces/<nonce_id>")
def delete_actor_nonce(actor_id: str, nonce_id: str):
    actor = load_actor(actor_id, Level.UPDATE)
    services().stores.nonces.delete(nonces.find(services().stores, "actor", actor, nonce_id)["id"])
    return ok(None, f"Nonce {nonce_id} deleted successfully.")


@bp.get("/actors/aliases/<alias>/nonces")
def list_alias_nonces(alias: str):
    doc = load_alias(alias, Level.UPDATE)
    return ok([show_nonce(n) for n in nonces.of(services().stores, "alias", doc)], "Nonces retrieved successfully.")


@bp.post("/actors/aliases/<alias>/nonces")
def create_alias_nonce(alias: str):
    doc = load_alias(alias, Level.READ)
    # An alias nonce reaches the actor: never more than its maker holds on the actor too.
    actor = services().stores.actors.find(doc["actor_id"])
    on_actor = _held("actor", actor) if actor is not None else Level.NONE
    return _create("alias", doc, min(_held("alias", doc), on_actor))


@bp.get("/actors/aliases/<alias>/nonces/<nonce_id>")
def get_alias_nonce(alias: str, nonce_id: str):
    doc = load_alias(alias, Level.UPDATE)
    return ok(show_nonce(nonces.find(services().stores, "alias", doc, nonce_id)), "Nonce retrieved successfully.")


@bp.delete("/actors/aliases/<alias>/nonces/<nonce_id>")
def delete_alias_nonce(alias: str, nonce_id: str):
    doc = load_alias(alias, Level.UPDATE)
    services().stores.nonces.delete(nonces.find(services().stores, "alias", doc, nonce_id)["id"])
    return ok(None, f"Nonce {nonce_id} deleted successfully.")
