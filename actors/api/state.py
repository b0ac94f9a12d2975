"""/actors/{id}/state: the private state of a stateful actor."""

from __future__ import annotations

import json

from flask import Blueprint, request

from actors import jsondepth, times
from actors.api.common import load_actor, ok, services
from actors.codes import Level
from actors.errors import BadRequestError, NotFoundError, PayloadTooLargeError

bp = Blueprint("state", __name__)
# The state reaches the container in the _abaco_actor_state environment variable, and one
# variable may hold at most 128 KiB (the kernel's MAX_ARG_STRLEN).
MAX_STATE_BYTES = 120_000


def _stateful(actor: dict) -> None:
    if actor.get("stateless", True):
        raise BadRequestError(f"actor is stateless. Actor {actor['id']} is stateless; only actors registered "
                              f"with stateless=false have state", abaco_status=404)


@bp.get("/actors/<actor_id>/state")
def get_state(actor_id: str):
    actor = load_actor(actor_id, Level.READ)
    _stateful(actor)
    return ok({"actor_id": actor["id"], "state": actor.get("state")}, "Actor state retrieved successfully.")


@bp.post("/actors/<actor_id>/state")
def set_state(actor_id: str):
    actor = load_actor(actor_id, Level.UPDATE)
    actor_id = actor["id"]   # the URL may have named an alias
    _stateful(actor)
    raw = request.get_data(cache=True)
    if len(raw) > MAX_STATE_BYTES:
        raise PayloadTooLargeError(f"the state may be at most {MAX_STATE_BYTES} bytes of JSON "
                                   f"(it travels to the container in an environment variable)")
    if not raw.strip():
        raise BadRequestError("the state is empty: send a JSON value")
    jsondepth.check(raw, services().config.web.max_json_depth, "the state")
    try:
        state = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequestError(f"the state must be JSON: {exc}") from None
    updated = services().stores.actors.update(actor["id"], {"state": state, "last_update_time": times.now()})
    if updated is None:
        raise NotFoundError(f"No actor found with id: {actor_id}.")
    return ok({"actor_id": actor["id"], "state": updated["state"]}, "State updated successfully.")
