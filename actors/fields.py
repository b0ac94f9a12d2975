"""The one table of actor fields: name, kind, default, who may set it, and its schema.

Everything that knows about actor fields reads this table: request validation
(:func:`validate`), a new actor's record (``models.new_actor``), what PUT may change,
the OpenAPI description (``api/openapi.py``) and the ``abaco`` command's options and
columns (``sdk/cli.py``). Adding a field here is the whole change.

Who may set a field:
- ``ANYONE``: every caller who may register or update the actor;
- ``PRIVILEGED``: only admins and privileged users may set it to anything but its
  default (``privileged``, ``use_container_uid``);
- a ``limit`` names the ``[limits]`` setting it overrides: ordinary users may ask
  for less than the configured default, only privileged users for more, and users with
  the limited role not at all (``actors/limits.py``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from actors import host_labels, jsondepth
from actors.codes import EXECUTION_EVENTS, EventType
from actors.errors import BadRequestError, ForbiddenError

ANYONE, PRIVILEGED = "anyone", "privileged"

MEM_LIMIT = re.compile(r"^[0-9]{1,18}[bkmg]?$", re.IGNORECASE)
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
REF = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
NAME = re.compile(r"^[A-Za-z0-9_.\- ]{1,128}$")
PYFUNC = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")
IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/:@]{0,254}$")

_STR, _BOOL = {"type": "string"}, {"type": "boolean"}


@dataclass(frozen=True)
class Field:
    name: str
    kind: str                     # how input is checked: see _check
    default: Any                  # what a new actor holds when the field is not given
    help: str
    schema: dict = field(default_factory=dict)
    who: str = ANYONE             # ANYONE or PRIVILEGED
    limit: str | None = None      # the [limits] setting this field overrides, if any
    fixed: bool = False           # set at registration only (a PUT may repeat it, not change it)
    stored: bool = True           # kept on the actor record (False: an instruction, such as force)
    cli: bool | str = False       # an option of `abaco actors create` and `update` (a str: its flag)


def _int(minimum: int = 0, maximum: int | None = None) -> dict:
    out: dict[str, Any] = {"type": "integer", "minimum": minimum}
    if maximum is not None:
        out["maximum"] = maximum
    return out


ACTOR_FIELDS: tuple[Field, ...] = (
    Field("image", "image", None, "the Docker image to run, e.g. abaco/echo:local", _STR, cli=True),
    Field("name", "name", None, "a name for the actor", _STR, cli=True),
    Field("description", "str", "", "what the actor does", _STR, cli=True),
    Field("stateless", "bool", True, "false: the actor keeps state between executions (one worker)", _BOOL,
          fixed=True),
    Field("default_environment", "env", {}, "environment variables of every execution",
          {"type": "object", "additionalProperties": _STR}),
    Field("max_workers", "posint", None, "the most workers the actor may have", _int(1), cli=True),
    Field("mem_limit", "mem", None, "memory limit of each execution, e.g. 512m", _STR, limit="memory_max",
          cli=True),
    Field("max_cpus", "nonnegint", None, "CPU limit of each execution in nano-CPUs (1000000000 = one CPU)",
          _int(), limit="cpu_quota", cli=True),
    Field("pids_max", "posint", None, "processes and threads an execution may have", _int(1),
          limit="pids_max", cli=True),
    Field("cpu_seconds", "nonnegfloat", None, "CPU-seconds budget of one execution",
          {"type": "number", "minimum": 0}, limit="cpu_seconds", cli=True),
    Field("max_run_time", "nonnegint", None, "seconds one execution may run", _int(), limit="max_run_time",
          cli=True),
    Field("cpu_weight", "weight", None, "relative CPU share, 1..10000", _int(1, 10000), limit="cpu_weight"),
    Field("io_weight", "weight", None, "relative io share, 1..10000", _int(1, 10000), limit="io_weight"),
    Field("token", "bool", False, "give executions an access token of the owner (_abaco_access_token)", _BOOL,
          cli="with-token"),
    Field("privileged", "bool", False, "run privileged containers (privileged users only)", _BOOL,
          who=PRIVILEGED),
    Field("use_container_uid", "bool", False, "run as the image's own user (privileged users only)", _BOOL,
          who=PRIVILEGED),
    Field("run_as_executor", "bool", False, "run as the UID of the user who sent the message", _BOOL),
    Field("read_only_root", "bool", False, "a read-only root file system (/tmp stays writable)", _BOOL,
          cli=True),
    Field("log_ex", "nonnegint", None, "seconds this actor's logs are kept (capped by [store] max_log_ex)",
          _int(), cli=True),
    Field("cron_schedule", "str", "", "'YYYY-MM-DD hh + N unit': the actor messages itself on a schedule",
          _STR, cli=True),
    Field("cron_on", "bool", False, "whether the cron schedule fires", _BOOL),
    Field("link", "ref", "", "an actor (id or alias) that receives this actor's events as messages", _STR,
          cli=True),
    Field("link_events", "events", [EventType.EXECUTION_COMPLETE.value],
          "the events sent to the link, e.g. EXECUTION_COMPLETE (the default) or ACTOR_READY,EXECUTION_STARTED",
          {"type": "array", "items": {"type": "string", "enum": [e.value for e in EventType]}},
          cli="link-events"),
    Field("webhook", "url", "", "a URL that receives this actor's events as JSON POSTs", _STR, cli=True),
    Field("queue", "name", "default", "the spawner queue that starts this actor's workers", _STR),
    Field("host_labels", "labels", [], "labels a host must have to run this actor's workers, e.g. gpu",
          {"type": "array", "items": _STR, "maxItems": host_labels.MAX_LABELS}, cli="host-labels"),
    Field("min_workers", "nonnegint", 0, "the fewest workers the autoscaler leaves (0: scale to zero when idle)",
          _int(), cli=True),
    Field("autoscale", "bool", False, "let the autoscaler add and stop workers between min_workers and max_workers",
          _BOOL, cli=True),
    Field("hints", "strlist", [], "hints such as 'sync' (keep one worker warm)",
          {"type": "array", "items": _STR}),
    Field("warm", "bool", False, "keep a long-lived container per worker; each message runs in a child process "
          "of it, in a cgroup of its own (images with python3 only)", _BOOL, cli=True),
    Field("warm_shared", "bool", False, "a warm container may serve messages of several senders", _BOOL),
    Field("warm_function", "pyfunc", "", "a warm actor of a Python image: 'module:function' called per message "
          "in a forked child instead of the image's command", _STR),
    Field("warm_max_executions", "posint", None, "executions before a warm container is replaced "
          "(at most [workers] warm_max_executions)", _int(1)),
    Field("force", "bool", False, "on update: restart the workers on a new revision", _BOOL, stored=False),
)
BY_NAME: dict[str, Field] = {f.name: f for f in ACTOR_FIELDS}
LIMIT_FIELDS: dict[str, str] = {f.name: f.limit for f in ACTOR_FIELDS if f.limit}
# Named so that they are refused, never ignored: the platform alone decides what is mounted.
REFUSED_ACTOR_FIELDS = ("mounts",)

# The fields each kind of request body takes, with the kind that says how a form field's
# text becomes a value (:func:`from_form`); any other field is unknown (see ``api/common.py``).
ACTOR_INPUT: dict[str, str] = {**{f.name: f.kind for f in ACTOR_FIELDS}, **{n: "str" for n in REFUSED_ACTOR_FIELDS}}
ALIAS_INPUT = {"alias": "str", "actor_id": "str"}
CONFIG_INPUT = {"name": "str", "value": "str", "actors": "strlist", "is_secret": "bool"}
NONCE_INPUT = {"level": "str", "max_uses": "int", "description": "str"}
PERMISSION_INPUT = {"user": "str", "level": "str"}
WORKER_INPUT = {"num": "int"}

_LIST_KINDS = ("strlist", "events", "labels")
_INT_KINDS = ("int", "posint", "nonnegint", "weight")
_INT_TEXT = re.compile(r"^\s*-?[0-9]{1,18}\s*$")   # longer text stays text: the field refuses it


def int_text(value: Any) -> Any:
    """Short whole-number text (ASCII digits, maybe a '-') as an int; anything else as it is."""
    if isinstance(value, str) and value.isascii() and _INT_TEXT.match(value):
        return int(value)
    return value


# Abaco's words for what only admins and privileged users may do, by field.
_PRIVILEGED_WORDS = {"privileged": "make privileged actors", "max_workers": "set max workers",
                     "max_cpus": "set max CPUs", "mem_limit": "set mem limit"}


def only_privileged(name: str, detail: str) -> ForbiddenError:
    """A caller whose role is too low for a field (Abaco's phrase, then ``detail``)."""
    what = _PRIVILEGED_WORDS.get(name, f"set {name}")
    return ForbiddenError(f"Not authorized -- only admins and privileged users can {what}. {detail}")


def input_schema() -> dict:
    """The OpenAPI schema of an actor registration or update."""
    return {"type": "object", "properties": {f.name: f.schema for f in ACTOR_FIELDS}}


# ---------------------------------------------------------------- input

def to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def to_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def normalise_input(body: Any) -> dict:
    """Accept snake_case or camelCase keys; refuse what is not a JSON object."""
    if not isinstance(body, dict):
        raise BadRequestError("the request body must be a JSON object (or form fields) describing the actor")
    return {to_snake(k): v for k, v in body.items()}


def from_form(form: Any, kinds: dict[str, str], max_depth: int = 0) -> dict:
    """Form fields (a werkzeug MultiDict: ``-d`` or multipart) as the JSON object they stand for.

    As Abaco reads them: ``true``/``false`` in any case for booleans, a repeated key
    (``hints=a&hints=b``) or JSON text (``hints=["a","b"]``) for lists, JSON text for objects
    (``default_environment={"K": "v"}``), numbers as text. Text that fits no conversion is
    kept as it is, for the field's own check to refuse it with its own words. JSON text may
    nest at most ``max_depth`` levels (``[web] max_json_depth``; 0: no cap).
    """
    out: dict[str, Any] = {}
    for key in form:
        name = to_snake(key)
        values = form.getlist(key)
        kind = kinds.get(name, "str")
        if kind in _LIST_KINDS or kind == "env":
            jsondepth.check(values[0], max_depth, f"the form field {name!r}")
        if kind in _LIST_KINDS:
            out[name] = _form_list(name, kind, values)
        elif kind == "env":
            out[name] = _form_object(name, values[0])
        elif kind == "bool" and values[0].strip().lower() in ("true", "false"):
            out[name] = values[0].strip().lower() == "true"
        elif kind in _INT_KINDS:
            out[name] = int_text(values[0])
        else:
            out[name] = values[0]
    return out


def _form_list(name: str, kind: str, values: list[str]) -> Any:
    if len(values) == 1 and values[0].lstrip().startswith("["):
        try:
            return json.loads(values[0])
        except ValueError:
            raise BadRequestError(f"'{name}' is not valid JSON text of a list: {values[0]!r}; or repeat the "
                                  f"field once per item ({name}=a&{name}=b)") from None
    if kind == "events" and len(values) == 1:
        return values[0]            # one comma-separated string of event names
    return values


def _form_object(name: str, text: str) -> Any:
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except ValueError:
        raise BadRequestError(f"'{name}' in a form body must be JSON text of an object, e.g. "
                              f"{name}={{\"KEY\": \"value\"}}; got {text!r}") from None


def known(data: dict, kinds: dict[str, str], strict: bool) -> tuple[dict, list[str]]:
    """``data`` without the fields ``kinds`` does not name, and those names (sorted).

    Abaco ignores fields it does not know; with ``strict`` (``[web] strict_fields``) they are a 400.
    """
    unknown = sorted(set(data) - set(kinds))
    if unknown and strict:
        raise BadRequestError(f"unknown field(s) {', '.join(unknown)}; accepted fields are "
                              f"{', '.join(sorted(n for n in kinds if n not in REFUSED_ACTOR_FIELDS))} "
                              f"([web] strict_fields = true)")
    return {k: v for k, v in data.items() if k in kinds}, unknown


def validate(body: Any, *, partial: bool = False) -> dict:
    """Check a POST (or, with ``partial``, a PUT) body; return only known, well-typed fields."""
    data = normalise_input(body)
    if "mounts" in data:
        raise BadRequestError("'mounts' cannot be set on an actor: host directories are mounted only "
                              "from the platform's [workers] mounts configuration")
    unknown = sorted(set(data) - set(BY_NAME))
    if unknown:
        raise BadRequestError(f"unknown field(s) {', '.join(unknown)}; accepted fields are "
                              f"{', '.join(sorted(BY_NAME))}")
    if not partial and "image" not in data:
        empty = "; the request body is empty" if not data else ""
        raise BadRequestError(f"'image' is required: the Docker image to run, e.g. abaco/echo:local{empty}")
    out = {}
    for name, value in data.items():
        kind = BY_NAME[name].kind
        if value is None and kind != "image":
            continue
        out[name] = _check(name, kind, value)
    return out


def _check(name: str, kind: str, value: Any) -> Any:
    def bad(what: str) -> BadRequestError:
        return BadRequestError(f"'{name}' must be {what}; got {value!r}")

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
    if kind == "pyfunc":
        if not isinstance(value, str) or (value and (len(value) > 256 or not PYFUNC.match(value))):
            raise bad("a Python 'module:function' (e.g. 'mypkg.handlers:main'), or empty")
        return value
    if kind == "ref":
        if not isinstance(value, str) or (value and not REF.match(value)):
            raise bad("an actor id (letters, digits, '.', '_', '-'), or empty to remove it")
        return value
    if kind == "url":
        if not isinstance(value, str) or len(value) > 2048:
            raise bad("an http or https URL, or empty to remove it")
        return value
    if kind == "name":
        if not isinstance(value, str) or not NAME.match(value):
            raise bad("1-128 letters, digits, spaces, '.', '_' or '-'")
        return value
    if kind in ("posint", "nonnegint"):
        value = int_text(value)
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
        value = int_text(value)
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
                raise BadRequestError(f"'{name}' key {key!r} is not a valid variable name")
            if not isinstance(val, str):
                raise BadRequestError(f"'{name}' value of {key!r} must be a string; got {type(val).__name__}")
        return dict(value)
    if kind == "events":
        return _events(name, value)
    if kind == "labels":
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("a list of host labels such as [\"gpu\"] (or one comma-separated string)")
        problem = host_labels.check_labels(value)
        if problem:
            raise BadRequestError(f"'{name}': {problem}")
        return list(host_labels.normalise(value))
    if kind == "strlist":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("a list of strings")
        return list(value)
    raise AssertionError(kind)


def _events(name: str, value: Any) -> list[str]:
    """A list of event names (or one comma-separated string), each known, at most one per execution."""
    known = ", ".join(e.value for e in EventType)
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequestError(f"'{name}' must be a list of event names from {known}; got {value!r}")
    out: list[str] = []
    for given in value:
        event = given.strip().upper()
        if event not in EventType.__members__:
            raise BadRequestError(f"'{name}' names {given!r}, which is not an event; the events are {known}")
        if event not in out:
            out.append(event)
    if all(e in out for e in EXECUTION_EVENTS):
        raise BadRequestError(f"'{name}' may hold only one of {' and '.join(EXECUTION_EVENTS)}: with both, "
                              "every execution would send two messages and each actor of a chain of links "
                              "would run twice as often as the one before it")
    return out
