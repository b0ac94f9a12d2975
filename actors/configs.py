"""Actor configs: named values injected as environment variables into the actors they list.

A config has a ``name`` (an environment variable name), a ``value``, ``actors`` (a
comma-separated list of actor ids or aliases) and ``is_secret``. Secret values are
encrypted at rest with Fernet (``[web] encryption_key``, or a key made on first use in
the keys directory, mode 0600) and never returned: answers show ``********``.
"""

from __future__ import annotations

import json

from actors import crypto, fields, permissions
from actors.auth import Identity
from actors.codes import Level
from actors.config import Config
from actors.errors import BadRequestError
from actors.store import Stores

HIDDEN = "********"
def validate(body, partial: bool = False) -> dict:
    data = fields.normalise_input(body)
    if not isinstance(data, dict):
        raise BadRequestError("send a JSON object: name, value, actors, is_secret")
    unknown = set(data) - {"name", "value", "actors", "is_secret"}
    if unknown:
        raise BadRequestError(f"unknown field(s) {', '.join(sorted(unknown))}; accepted: name, value, actors, is_secret")
    if not partial or "name" in data:
        name = data.get("name")
        if not isinstance(name, str) or not fields.ENV_NAME.match(name) or name.startswith("_abaco") or \
                name == "MSG" or len(name) > 128:
            raise BadRequestError("'name' must be an environment variable name (letters, digits, '_'; "
                                  f"not MSG or _abaco...); got {name!r}")
    if not partial or "value" in data:
        value = data.get("value")
        if value is None:
            raise BadRequestError("'value' is required")
        if not isinstance(value, str):
            value = json.dumps(value)
        if len(value) > 65536:
            raise BadRequestError("'value' may be at most 64 KiB")
        data["value"] = value
    if not partial or "actors" in data:
        actors = data.get("actors", "")
        if isinstance(actors, list):
            actors = ",".join(str(a) for a in actors)
        if not isinstance(actors, str):
            raise BadRequestError("'actors' must be a comma-separated list of actor ids or aliases")
        data["actors"] = ",".join(a.strip() for a in actors.split(",") if a.strip())
    if "is_secret" in data and not isinstance(data["is_secret"], bool):
        raise BadRequestError("'is_secret' must be true or false")
    return data


def seal(config: Config, doc: dict) -> dict:
    """The document as stored: a secret's value encrypted."""
    if doc.get("is_secret"):
        return {**doc, "value": crypto.encrypt(config, doc["value"]), "encrypted": True}
    return {**doc, "encrypted": False}


def public(doc: dict) -> dict:
    out = {k: v for k, v in doc.items() if k not in ("encrypted", "tenant")}
    if doc.get("is_secret"):
        out["value"] = HIDDEN
    return out


def plain_value(config: Config, doc: dict) -> str:
    if not doc.get("encrypted"):
        return doc["value"]
    plain = crypto.decrypt(config, doc["value"])
    return "" if plain is None else plain    # the key changed: inject nothing rather than garbage


def of_actor(stores: Stores, actor: dict) -> list[dict]:
    """The configs (of the actor's tenant) that list the actor, by id or by one of its aliases."""
    tenant = actor.get("tenant", "default")
    names = {actor["id"], *(key.split(":", 1)[1] for key in stores.aliases.group(actor["id"]))}
    return [doc for _, doc in stores.configs.items()
            if doc.get("tenant", "default") == tenant and names & set((doc.get("actors") or "").split(","))]


def has_secrets(docs: list[dict]) -> bool:
    """Whether any of these configs (``of_actor``'s) is a secret."""
    return any(doc.get("is_secret") for doc in docs)


def for_actor(config: Config, stores: Stores, actor: dict, docs: list[dict] | None = None) -> dict[str, str]:
    """The environment an actor's executions get from configs that list it (``docs``, when
    the caller has already listed them with ``of_actor``).

    A secret goes only into an actor whose owner may read the config: listing an actor
    in a secret config does not hand the secret to whoever owns that actor.
    """
    tenant = actor.get("tenant", "default")
    owner = Identity(user=actor.get("owner", ""), role=actor.get("owner_role") or "user", tenant=tenant)
    env = {}
    for doc in (of_actor(stores, actor) if docs is None else docs):
        if doc.get("is_secret") and permissions.level(stores, owner, "config", doc) < Level.READ:
            continue
        env[doc["name"]] = plain_value(config, doc)
    return env
