"""Actor, execution and worker records, and how users see them.

Documents are plain dicts stored with snake_case keys (an actor's fields come from the
table in ``actors/fields.py``); ``display`` renames top-level keys to camelCase when
``[web] case = camel`` and drops the fields users never see.
"""

from __future__ import annotations

import copy
import secrets
import string
from typing import Any, Collection

from actors import fields, times
from actors.codes import ActorStatus, ExecutionStatus, WorkerStatus
from actors.errors import BadRequestError

_ALPHABET = string.ascii_letters + string.digits
HIDDEN_FIELDS = {"tenant", "queue_name", "pid", "host_pid", "owner_role"}


def new_id(length: int = 13) -> str:
    """A short, URL-safe, random id of letters and digits (about 77 bits for 13 characters)."""
    number = int.from_bytes(secrets.token_bytes(length), "big")   # 8 bits a character: ample
    out = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        out.append(_ALPHABET[digit])
    return "".join(out)


def display(doc: dict, case: str, extra_hidden: Collection[str] = frozenset()) -> dict:
    """What a user sees of a stored document."""
    out = {k: v for k, v in doc.items() if k not in HIDDEN_FIELDS and k not in extra_hidden}
    if case == "camel":
        out = {fields.to_camel(k): v for k, v in out.items()}
    return out


# ---------------------------------------------------------------- actors

ONE_STATEFUL_WORKER = "stateful actors can only have 1 worker"   # Abaco's words


def new_actor(given: dict, owner: str, tenant: str, default_max_workers: int) -> dict:
    """A new actor record: every stored field of the table, from ``given`` or its default."""
    stamp = times.now()
    stateless = given.get("stateless", True)
    if not stateless and given.get("max_workers", 1) != 1:
        raise BadRequestError(f"{ONE_STATEFUL_WORKER}. A stateful actor (stateless=false) has exactly one worker; "
                              "leave max_workers unset or set it to 1")
    actor: dict[str, Any] = {"id": new_id(), "owner": owner, "tenant": tenant, "status": ActorStatus.SUBMITTED,
             "status_message": ""}
    for f in fields.ACTOR_FIELDS:
        if f.stored:
            value = given.get(f.name)
            actor[f.name] = copy.deepcopy(f.default) if value is None else value
    if actor["max_workers"] is None:
        actor["max_workers"] = default_max_workers
    if not stateless:
        actor["max_workers"] = 1
    actor.update({"revision": 1, "create_time": stamp, "last_update_time": stamp, "state": {}, "type": "none"})
    return actor


# ---------------------------------------------------------------- executions

def new_execution(actor: dict, executor: str, content_type: str, message_size: int) -> dict:
    return {
        "id": new_id(),
        "actor_id": actor["id"],
        "tenant": actor.get("tenant", "default"),
        "owner": actor["owner"],
        "executor": executor,
        "status": ExecutionStatus.SUBMITTED,
        "status_message": "",
        "message_received_time": times.now(),
        "content_type": content_type,
        "message_size": message_size,
        "revision": actor["revision"],
        "start_time": None,
        "finish_time": None,
        "runtime": 0,
        "cpu": 0,
        "io": 0,
        "exit_code": None,
        "final_state": None,
        "worker_id": None,
        "container_id": None,
        "attempts": 0,
        "has_results": False,
    }


def execution_summary(execution: dict) -> dict:
    keys = ("id", "status", "message_received_time", "start_time", "finish_time")
    return {k: execution.get(k) for k in keys}


# ---------------------------------------------------------------- workers

def new_worker(actor: dict, host_id: str) -> dict:
    stamp = times.now()
    return {
        "id": new_id(),
        "actor_id": actor["id"],
        "tenant": actor.get("tenant", "default"),
        "status": WorkerStatus.REQUESTED,
        "image": actor["image"],
        "revision": actor["revision"],
        "host_id": host_id,
        "location": None,
        "pid": None,
        "ch_name": None,
        "create_time": stamp,
        "last_execution_time": None,
        "last_health_check_time": stamp,
        "execution_id": None,
        "cid": None,
    }


def worker_view(worker: dict) -> dict:
    """A worker as Abaco shows it: ``cid`` is the running container's id, else the worker's own."""
    return dict(worker, cid=worker.get("cid") or worker["id"])


# ---------------------------------------------------------------- nonces

def nonce_view(nonce: dict) -> dict:
    """A nonce as Abaco shows it: ``actor_id`` or ``alias`` (not our kind/object_id), ``roles``."""
    out = {k: v for k, v in nonce.items() if k not in ("kind", "object_id", "role")}
    out["actor_id" if nonce.get("kind") != "alias" else "alias"] = nonce.get("object_id")
    out.setdefault("roles", [nonce["role"]] if nonce.get("role") else [])
    out.setdefault("description", "")
    return out
