"""/actors/{id}/permissions and /actors/aliases/{alias}/permissions: who may do what."""

from __future__ import annotations

from flask import Blueprint, request

from actors import fields, permissions
from actors.api.aliases import load_alias
from actors.api.common import body_fields, identity, load_actor, ok, services
from actors.codes import Level
from actors.errors import BadRequestError, ForbiddenError

bp = Blueprint("permissions", __name__)


def answer(kind: str, obj: dict):
    """GET lists the grants; POST sets one ({"user", "level"}; NONE removes it) and lists them."""
    stores = services().stores
    if request.method == "POST":
        body = body_fields(fields.PERMISSION_INPUT)
        if "user" not in body or "level" not in body:
            raise BadRequestError("send {\"user\": NAME, \"level\": \"READ\"|\"EXECUTE\"|\"UPDATE\"|\"NONE\"}")
        if body["user"] == obj["owner"]:
            raise BadRequestError("the owner always holds UPDATE")
        new_level = permissions.parse_level(body["level"])
        if kind == "actor" and obj.get("privileged") and new_level >= Level.UPDATE and not identity().is_privileged:
            raise ForbiddenError("only privileged users may grant UPDATE on a privileged actor")
        permissions.grant(stores, kind, obj, body["user"], new_level)
    return ok(permissions.listing(stores, kind, obj), "Permissions retrieved successfully.")


def _needed() -> int:
    return Level.UPDATE if request.method == "POST" else Level.READ


@bp.route("/actors/<actor_id>/permissions", methods=["GET", "POST"])
def actor_permissions(actor_id: str):
    actor = load_actor(actor_id, _needed())
    return answer("actor", actor)


@bp.route("/actors/aliases/<alias>/permissions", methods=["GET", "POST"])
def alias_permissions(alias: str):
    doc = load_alias(alias, _needed())
    return answer("alias", doc)
