"""/actors/{id}/executions: list, read, force-quit; logs and results."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, request

from actors import commands, livelog, logtickets, models, times
from actors.api import hypermedia
from actors.api.common import base_url, envelope, identity, json_body, load_actor, load_execution, ok, services, show
from actors.codes import EXECUTION_TERMINAL, ExecutionStatus, Level
from actors.errors import BadRequestError

bp = Blueprint("executions", __name__)


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequestError(f"'{name}' must be a whole number; got {raw!r}") from None
    if not low <= value <= high:
        raise BadRequestError(f"'{name}' must be between {low} and {high}")
    return value


@bp.get("/actors/<actor_id>/executions")
def list_executions(actor_id: str):
    sv = services()
    actor = load_actor(actor_id, Level.READ)
    offset = _int_arg("offset", 0, 0, 10**9)
    limit = _int_arg("limit", 1000, 1, 100000)
    docs = sv.stores.executions.group_docs(actor["id"])
    totals = {"total_executions": len(docs),
              "total_cpu": sum(d.get("cpu") or 0 for d in docs),
              "total_io": sum(d.get("io") or 0 for d in docs),
              "total_runtime": round(sum(d.get("runtime") or 0 for d in docs), 6)}
    summaries = [show(models.execution_summary(d)) for d in docs[offset:offset + limit]]
    result = show({"actor_id": actor["id"], "api_server": base_url(), "owner": actor["owner"],
                   **totals, "executions": summaries})
    result["_links"] = {"self": f"{base_url()}/actors/{actor['id']}/executions",
                        "owner": hypermedia.owner(base_url(), actor["owner"])}
    return ok(result, "Actor executions retrieved successfully.")


@bp.get("/actors/<actor_id>/executions/<execution_id>")
def get_execution(actor_id: str, execution_id: str):
    actor = load_actor(actor_id, Level.READ)
    execution = load_execution(actor, execution_id)
    out = show(execution)
    links = hypermedia.execution(base_url(), execution)
    out["_links"] = dict(links, results=f"{links['self']}/results")
    return ok(out, "Actor execution retrieved successfully.")


# Seconds POST .../executions/wait waits when the body names no timeout.
DEFAULT_WAIT = 30


@bp.post("/actors/<actor_id>/executions/wait")
def wait_executions(actor_id: str):
    """Answer as soon as one of the named executions has ended (or after ``timeout`` s).

    Body: ``{"ids": [execution ids], "timeout": seconds}`` (at most ``[web]
    max_batch_messages`` ids; ``timeout`` at most ``[web] sync_timeout``, default 30). The
    answer lists the ended ones (``finished``, whole records) and the others (``pending``).
    A wait that must block holds one of the caller's synchronous-wait slots (429 when
    none is free); ended executions are answered at once without one. The API wakes on the
    signal the worker sends when it records the end: nothing polls.
    """
    sv = services()
    actor = load_actor(actor_id, Level.READ)
    body = json_body()
    ids = body.get("ids", body.get("execution_ids"))
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise BadRequestError("'ids' is a non-empty list of execution ids")
    ids = list(dict.fromkeys(ids))
    cap = sv.config.web.max_batch_messages
    if len(ids) > cap:
        raise BadRequestError(f"'ids' names {len(ids)} executions; one wait watches at most {cap} "
                              f"([web] max_batch_messages)")
    timeout = body.get("timeout", min(DEFAULT_WAIT, sv.config.web.sync_timeout))
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
            or not 0 <= timeout <= sv.config.web.sync_timeout:
        raise BadRequestError(f"'timeout' is a number of seconds from 0 to {sv.config.web.sync_timeout} "
                              f"([web] sync_timeout)")
    docs = sv.stores.executions.get_many(ids)
    for execution_id, doc in zip(ids, docs, strict=True):
        if doc is None or doc.get("actor_id") != actor["id"]:
            load_execution(actor, execution_id)        # the unknown-execution answer
    if timeout and not any(d.get("status") in EXECUTION_TERMINAL for d in docs if d):
        with sv.waits.held(f"{identity().tenant}/{identity().user}"):
            if sv.stores.wait_any_execution(ids, timeout) is not None:
                docs = sv.stores.executions.get_many(ids)
    finished = [show(d) for d in docs if d and d.get("status") in EXECUTION_TERMINAL]
    pending = [i for i, d in zip(ids, docs, strict=True) if not (d and d.get("status") in EXECUTION_TERMINAL)]
    return ok({"finished": finished, "pending": pending},
              f"{len(finished)} of {len(ids)} execution(s) ended.")


@bp.delete("/actors/<actor_id>/executions/<execution_id>")
def force_quit(actor_id: str, execution_id: str):
    sv = services()
    actor = load_actor(actor_id, Level.EXECUTE)
    execution = load_execution(actor, execution_id)
    status = execution.get("status")
    if status in EXECUTION_TERMINAL:
        raise BadRequestError(f"Cannot force quit an execution not in SUBMITTED or RUNNING status. Execution "
                              f"{execution_id} has already finished ({status}).")
    if status == ExecutionStatus.SUBMITTED:
        cancelled = sv.stores.executions.update(
            execution_id, {"status": ExecutionStatus.ERROR, "finish_time": times.now(),
                           "status_message": "cancelled by a user request before it started"},
            expect={"status": ExecutionStatus.SUBMITTED})
        if cancelled is not None:
            sv.stores.execution_done(execution_id)
            return ok(show(cancelled), "Execution cancelled before it started.")
        execution = load_execution(actor, execution_id)
    if execution.get("worker_id"):
        commands.kill_execution(sv.config, sv.broker, execution["worker_id"], execution_id)
    return ok(show(execution), "Issued force quit command for execution.")


def _follow_arg() -> bool:
    raw = request.args.get("follow")
    if raw is None or raw.lower() in ("false", "0", "no", ""):
        return False
    if raw.lower() in ("true", "1", "yes"):
        return True
    raise BadRequestError(f"'follow' must be true or false; got {raw!r}")


def logstream_url() -> str:
    """Where followers go: ``[logstream] public_url``, else the host the caller used, on the logstream port."""
    ls = services().config.logstream
    if ls.public_url:
        return ls.public_url.rstrip("/")
    host = urlsplit(f"//{request.host}").hostname or "127.0.0.1"
    return f"http://{'[' + host + ']' if ':' in host else host}:{ls.port}"


def _follow_redirect(actor: dict, execution_id: str):
    """307 to the logstream process, with a ticket for this execution (actors/logtickets.py)."""
    query = {"follow": "true",
             "ticket": logtickets.issue(services().config, identity(), actor["id"], execution_id)}
    if request.args.get("tail") is not None:
        query["tail"] = str(_int_arg("tail", 0, 0, 10**7))
    resume = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    if resume:
        if not livelog.valid_id(resume):
            raise BadRequestError(f"Last-Event-ID must be an event id of this stream (<ms>-<seq>); got {resume!r}")
        query["last_event_id"] = resume
    location = f"{logstream_url()}/actors/{actor['id']}/executions/{execution_id}/logs?{urlencode(query)}"
    resp = envelope({"location": location}, "Follow the redirect: the live log is served as server-sent events.",
                    307)
    resp.headers["Location"] = location
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/actors/<actor_id>/executions/<execution_id>/logs")
def get_logs(actor_id: str, execution_id: str):
    follow = _follow_arg()
    actor = load_actor(actor_id, Level.READ)
    load_execution(actor, execution_id)
    if follow:
        return _follow_redirect(actor, execution_id)
    logs = services().stores.logs.get(execution_id)
    base = f"{base_url()}/actors/{actor['id']}/executions/{execution_id}"
    return ok({"logs": (logs or b"").decode("utf-8", errors="replace"),
               "_links": {"self": f"{base}/logs", "execution": base,
                          "owner": hypermedia.owner(base_url(), actor["owner"])}},
              "Logs retrieved successfully.")


@bp.get("/actors/<actor_id>/executions/<execution_id>/results")
def get_results(actor_id: str, execution_id: str):
    """The next result the execution sent (each call takes one, as in Abaco); empty when none.

    Taking a result changes what others see, so it needs EXECUTE, not just READ."""
    actor = load_actor(actor_id, Level.EXECUTE)
    load_execution(actor, execution_id)
    data = services().stores.results.pop_list(execution_id)
    return Response(data or b"", mimetype="application/octet-stream")
