"""/actors/configs: values injected into actors as environment variables (see actors/configs.py)."""

from __future__ import annotations

from flask import Blueprint, request

from actors import configs, fields, permissions, times
from actors.api.common import body_fields, identity, load_actor, ok, services, show
from actors.api.permissions import answer
from actors.codes import Level
from actors.errors import BadRequestError, ConflictError, ForbiddenError, NotFoundError

bp = Blueprint("configs", __name__)


def _key(name: str) -> str:
    return f"{identity().tenant}:{name}"


def load_config(name: str, level: int) -> dict:
    sv, who = services(), identity()
    doc = sv.stores.configs.find(_key(name))
    if doc is None or who.nonce is not None:
        raise permissions.not_found("config", name)
    permissions.require(sv.stores, who, "config", doc, level, name)
    return doc


def _check_actors(actors: str) -> None:
    """Only actors the caller may change can be given a config."""
    for ref in filter(None, actors.split(",")):
        try:
            load_actor(ref, Level.UPDATE)
        except NotFoundError:
            raise NotFoundError(f"No actor or alias found with id: {ref}.") from None


@bp.get("/actors/configs")
def list_configs():
    sv, who = services(), identity()
    docs = [d for _, d in sv.stores.configs.items()
            if permissions.level(sv.stores, who, "config", d) >= Level.READ]
    return ok([show(configs.public(d)) for d in sorted(docs, key=lambda d: d["name"])],
              "Configs retrieved successfully.")


@bp.post("/actors/configs")
def create_config():
    sv, who = services(), identity()
    data = configs.validate(body_fields(fields.CONFIG_INPUT))
    _check_actors(data["actors"])
    doc = {"name": data["name"], "value": data["value"], "actors": data["actors"],
           "is_secret": data.get("is_secret", False), "owner": who.user, "tenant": who.tenant,
           "create_time": times.now()}
    if not sv.stores.configs.create(_key(doc["name"]), configs.seal(sv.config, doc)):
        raise ConflictError(f"the config {doc['name']!r} exists already")
    return ok(show(configs.public(doc)), "Config created successfully.")


@bp.get("/actors/configs/<name>")
def get_config(name: str):
    return ok(show(configs.public(load_config(name, Level.READ))), "Config retrieved successfully.")


@bp.put("/actors/configs/<name>")
def update_config(name: str):
    sv = services()
    doc = load_config(name, Level.UPDATE)
    data = configs.validate(body_fields(fields.CONFIG_INPUT), partial=True)
    who = identity()
    owner = who.user == doc["owner"] or who.is_admin
    if doc.get("is_secret") and data.get("is_secret") is False:
        # The old value is never shown, not even by making it plain: only the owner may, with a new one.
        if not owner:
            raise ForbiddenError("only the config's owner (or an admin) may turn a secret into a plain config")
        if "value" not in data:
            raise BadRequestError("turning a secret config into a plain one needs a new 'value' in the same "
                                  "request: the secret value is never shown")
    if (doc.get("is_secret") or data.get("is_secret")) and "actors" in data and \
            set(filter(None, data["actors"].split(","))) - set(filter(None, (doc.get("actors") or "").split(","))) \
            and not owner:
        raise ForbiddenError("only the config's owner (or an admin) may add actors to a secret config")
    if data.get("name", name) != name:
        raise ConflictError("a config cannot be renamed; delete it and make a new one")
    if "actors" in data:
        _check_actors(data["actors"])
    plain = {**doc, "value": configs.plain_value(sv.config, doc), **data, "last_update_time": times.now()}
    plain.pop("encrypted", None)
    sv.stores.configs.put(_key(name), configs.seal(sv.config, plain))
    return ok(show(configs.public(plain)), "Config updated successfully.")


@bp.delete("/actors/configs/<name>")
def delete_config(name: str):
    sv = services()
    doc = load_config(name, Level.UPDATE)
    sv.stores.configs.delete(_key(name))
    permissions.forget(sv.stores, "config", doc)
    return ok(None, f"Config {name} deleted successfully.")


@bp.route("/actors/configs/<name>/permissions", methods=["GET", "POST"])
def config_permissions(name: str):
    doc = load_config(name, Level.UPDATE if request.method == "POST" else Level.READ)
    return answer("config", doc)
