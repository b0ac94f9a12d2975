"""/actors/{id}/nonces and /actors/aliases/{alias}/nonces (see actors/nonces.py)."""

from __future__ import annotations

from flask import Blueprint

from actors import fields, nonces, permissions
from actors.api.aliases import load_alias
from actors.api.common import identity, json_body, load_actor, ok, services, show
from actors.codes import Level
from actors.errors import NotFoundError

bp = Blueprint("nonces", __name__)


def _create(kind: str, obj_id: str, held: int):
    body = fields.normalise_input(json_body(required=False) or {})
    nonce = nonces.new(services().stores, identity(), kind, obj_id, body if isinstance(body, dict) else {}, held)
    return ok(show(nonce), "Nonce created successfully.")


def _find(kind: str, obj_id: str, nonce_id: str) -> dict:
    nonce = services().stores.nonces.find(nonce_id)
    if nonce is None or nonce["kind"] != kind or nonce["object_id"] != obj_id:
        raise NotFoundError(f"no nonce {nonce_id!r} here")
    return nonce


def _held(kind: str, obj: dict) -> int:
    return permissions.level(services().stores, identity(), kind, obj)


@bp.get("/actors/<actor_id>/nonces")
def list_actor_nonces(actor_id: str):
    actor = load_actor(actor_id, Level.UPDATE)
    return ok([show(n) for n in services().stores.nonces.group_docs(f"actor:{actor['id']}")],
              "Nonces retrieved successfully.")


@bp.post("/actors/<actor_id>/nonces")
def create_actor_nonce(actor_id: str):
    actor = load_actor(actor_id, Level.READ)
    return _create("actor", actor["id"], _held("actor", actor))


@bp.get("/actors/<actor_id>/nonces/<nonce_id>")
def get_actor_nonce(actor_id: str, nonce_id: str):
    actor = load_actor(actor_id, Level.UPDATE)
    return ok(show(_find("actor", actor["id"], nonce_id)), "Nonce retrieved successfully.")


@bp.delete("/actors/<actor_id>/nonces/<nonce_id>")
def delete_actor_nonce(actor_id: str, nonce_id: str):
    actor = load_actor(actor_id, Level.UPDATE)
    services().stores.nonces.delete(_find("actor", actor["id"], nonce_id)["id"])
    return ok(None, f"Nonce {nonce_id} deleted successfully.")


@bp.get("/actors/aliases/<alias>/nonces")
def list_alias_nonces(alias: str):
    load_alias(alias, Level.UPDATE)
    return ok([show(n) for n in services().stores.nonces.group_docs(f"alias:{alias}")],
              "Nonces retrieved successfully.")


@bp.post("/actors/aliases/<alias>/nonces")
def create_alias_nonce(alias: str):
    doc = load_alias(alias, Level.READ)
    return _create("alias", alias, _held("alias", doc))


@bp.get("/actors/aliases/<alias>/nonces/<nonce_id>")
def get_alias_nonce(alias: str, nonce_id: str):
    load_alias(alias, Level.UPDATE)
    return ok(show(_find("alias", alias, nonce_id)), "Nonce retrieved successfully.")


@bp.delete("/actors/aliases/<alias>/nonces/<nonce_id>")
def delete_alias_nonce(alias: str, nonce_id: str):
    load_alias(alias, Level.UPDATE)
    services().stores.nonces.delete(_find("alias", alias, nonce_id)["id"])
    return ok(None, f"Nonce {nonce_id} deleted successfully.")
