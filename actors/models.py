"""Actors, executions and workers: their fields, validation of user input, display.

Documents are plain dicts stored with snake_case keys; ``display`` renames top-level
keys to camelCase when ``[web] case = camel`` and drops the fields users never see.
"""

from __future__ import annotations

import re
import secrets
import string
from datetime import datetime, timezone
from typing import Any

from actors import codes
from actors.errors import BadRequestError

_ALPHABET = string.ascii_letters + string.digits
HIDDEN_FIELDS = {"tenant", "queue_name", "pid", "host_pid", "owner_role"}
MEM_LIMIT = re.compile(r"^[0-9]+[bkmg]?$", re.IGNORECASE)
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
REF = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
NAME = re.compile(r"^[A-Za-z0-9_.\- ]{1,128}$")
IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/:@]{0,254}$")


def new_id(length: int = 13) -> str:
    """A short, URL-safe, random id (about 77 bits for 13 characters)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def now() -> str:
    """UTC time in ISO 8601 with microseconds, as stored everywhere."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def to_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def display(doc: dict, case: str, extra_hidden: set[str] = frozenset()) -> dict:
    """What a user sees of a stored document."""
    out = {k: v for k, v in doc.items() if k not in HIDDEN_FIELDS and k not in extra_hidden}
    if case == "camel":
        out = {to_camel(k): v for k, v in out.items()}
    return out


# ---------------------------------------------------------------- actors

# Field name -> (kind, default). Kinds are checked by _check.
ACTOR_FIELDS: dict[str, tuple[str, Any]] = {
    "image": ("image", None),
    "name": ("name", None),
    "description": ("str", ""),
    "stateless": ("bool", True),
    "default_environment": ("env", None),
    "max_workers": ("posint", None),
    "mem_limit": ("mem", None),
    "max_cpus": ("nonnegint", None),       # nano-CPUs, as Abaco and docker
    "pids_max": ("posint", None),
    "cpu_seconds": ("nonnegfloat", None),  # CPU-seconds budget of one execution
    "max_run_time": ("nonnegint", None),   # seconds one execution may run
    "cpu_weight": ("weight", None),
    "io_weight": ("weight", None),
    "token": ("bool", False),
    "privileged": ("bool", False),
    "use_container_uid": ("bool", False),  # run as the image's own user
    "run_as_executor": ("bool", False),    # run as the UID of the user who sent the message
    "read_only_root": ("bool", False),     # read-only root file system (/tmp in memory)
    "log_ex": ("nonnegint", None),         # seconds this actor's logs are kept (capped by config)
    "cron_schedule": ("str", None),        # "YYYY-MM-DD hh + N unit" (see actors/cron.py)
    "cron_on": ("bool", None),
    "link": ("ref", None),                 # an actor that receives this actor's events
    "webhook": ("url", None),              # a URL that receives them as JSON POSTs
    "queue": ("name", "default"),
    "hints": ("strlist", None),
    "force": ("bool", False),
}
UPDATABLE = set(ACTOR_FIELDS)


def _check(field: str, kind: str, value: Any) -> Any:
    def bad(what: str) -> BadRequestError:
        return BadRequestError(f"'{field}' must be {what}; got {value!r}")

    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise bad("a boolean (true or false)")
    if kind == "str":
        if not isinstance(value, str) or len(value) > 4096:
            raise bad("a string of at most 4096 characters")
        return value
    if kind == "image":
        if not isinstance(value, str) or not value.strip():
            raise BadRequestError("'image' is required: the Docker image to run, e.g. abaco/echo:local")
        if not IMAGE.match(value.strip()):
            raise bad("a Docker image reference such as 'abaco/echo:local'")
        return value.strip()
    if kind == "ref":
        if not isinstance(value, str) or (value and not REF.match(value)):
            raise bad("an actor id (letters, digits, '.', '_', '-'), or empty to remove it")
        return value
    if kind == "url":
        if not isinstance(value, str) or len(value) > 2048:
            raise bad("an http or https URL, or empty to remove it")
        return value
    if kind == "name":
        if value is None:
            return None
        if not isinstance(value, str) or not NAME.match(value):
            raise bad("1-128 letters, digits, spaces, '.', '_' or '-'")
        return value
    if kind in ("posint", "nonnegint"):
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("a whole number")
        if value < (1 if kind == "posint" else 0):
            raise bad("at least 1" if kind == "posint" else "0 or more")
        return value
    if kind == "nonnegfloat":
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise bad("a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise bad("a number, 0 or more")
        return float(value)
    if kind == "weight":
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10000:
            raise bad("a whole number from 1 to 10000")
        return value
    if kind == "mem":
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return str(value)
        if isinstance(value, str) and MEM_LIMIT.match(value):
            return value.lower()
        raise bad("a memory size such as '512m', '2g' or a number of bytes")
    if kind == "env":
        if not isinstance(value, dict):
            raise bad("an object mapping variable names to strings")
        for key, val in value.items():
            if not ENV_NAME.match(key):
                raise BadRequestError(f"'default_environment' key {key!r} is not a valid variable name")
            if not isinstance(val, str):
                raise BadRequestError(f"'default_environment' value of {key!r} must be a string; "
                                      f"got {type(val).__name__}")
        return dict(value)
    if kind == "strlist":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("a list of strings")
        return list(value)
    raise AssertionError(kind)


def normalise_input(body: Any) -> dict:
    """Accept snake_case or camelCase keys; refuse what is not a JSON object."""
    if not isinstance(body, dict):
        raise BadRequestError("the request body must be a JSON object (or form fields) describing the actor")
    return {to_snake(k): v for k, v in body.items()}


def validate_actor_input(body: Any, *, partial: bool = False) -> dict:
    """Check a POST or PUT body; return only known, well-typed fields."""
    data = normalise_input(body)
    if "mounts" in data:
        raise BadRequestError("'mounts' cannot be set on an actor: host directories are mounted only "
                              "from the platform's [workers] mounts configuration")
    unknown = sorted(set(data) - set(ACTOR_FIELDS))
    if unknown:
        raise BadRequestError(f"unknown field(s) {', '.join(unknown)}; accepted fields are "
                              f"{', '.join(sorted(ACTOR_FIELDS))}")
    if not partial and "image" not in data:
        raise BadRequestError("'image' is required: the Docker image to run, e.g. abaco/echo:local")
    out = {}
    for field, value in data.items():
        kind, _ = ACTOR_FIELDS[field]
        if value is None and kind not in ("image",):
            continue
        out[field] = _check(field, kind, value)
    return out


def new_actor(fields: dict, owner: str, tenant: str, default_max_workers: int) -> dict:
    stamp = now()
    stateless = fields.get("stateless", True)
    if not stateless and fields.get("max_workers", 1) != 1:
        raise BadRequestError("a stateful actor (stateless=false) has exactly one worker; "
                              "leave max_workers unset or set it to 1")
    actor = {
        "id": new_id(),
        "name": fields.get("name"),
        "description": fields.get("description", ""),
        "image": fields["image"],
        "owner": owner,
        "tenant": tenant,
        "status": codes.SUBMITTED,
        "status_message": "",
        "stateless": stateless,
        "default_environment": fields.get("default_environment") or {},
        "max_workers": 1 if not stateless else fields.get("max_workers", default_max_workers),
        "mem_limit": fields.get("mem_limit"),
        "max_cpus": fields.get("max_cpus"),
        "pids_max": fields.get("pids_max"),
        "cpu_seconds": fields.get("cpu_seconds"),
        "max_run_time": fields.get("max_run_time"),
        "cpu_weight": fields.get("cpu_weight"),
        "io_weight": fields.get("io_weight"),
        "token": fields.get("token", False),
        "privileged": fields.get("privileged", False),
        "use_container_uid": fields.get("use_container_uid", False),
        "run_as_executor": fields.get("run_as_executor", False),
        "read_only_root": fields.get("read_only_root", False),
        "link": fields.get("link") or "",
        "webhook": fields.get("webhook") or "",
        "queue": fields.get("queue") or "default",
        "hints": fields.get("hints") or [],
        "revision": 1,
        "create_time": stamp,
        "last_update_time": stamp,
        "state": {},
        "type": "none",
    }
    return actor


# ---------------------------------------------------------------- executions

def new_execution(actor: dict, executor: str, content_type: str, message_size: int) -> dict:
    return {
        "id": new_id(),
        "actor_id": actor["id"],
        "tenant": actor.get("tenant", "default"),
        "owner": actor["owner"],
        "executor": executor,
        "status": codes.SUBMITTED,
        "status_message": "",
        "message_received_time": now(),
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
    stamp = now()
    return {
        "id": new_id(),
        "actor_id": actor["id"],
        "tenant": actor.get("tenant", "default"),
        "status": codes.REQUESTED,
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
