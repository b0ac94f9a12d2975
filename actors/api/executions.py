"""/actors/{id}/executions: list, read, force-quit; logs and results."""

from __future__ import annotations

from flask import Blueprint, Response, request

from actors import commands, models, times
from actors.api import hypermedia
from actors.api.common import base_url, load_actor, load_execution, ok, services, show
from actors.codes import EXECUTION_TERMINAL, ExecutionStatus, Level
from actors.errors import BadRequestError

bp = Blueprint("executions", __name__)
DETAILS = ("runtime", "cpu", "memory_peak", "io", "exit_code")


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
    # ?details=true: each summary also shows what the execution used (the dashboard's table).
    detailed = request.args.get("details", "").lower() == "true"
    summaries = [show(dict(models.execution_summary(d), **{k: d.get(k) for k in DETAILS}) if detailed
                      else models.execution_summary(d)) for d in docs[offset:offset + limit]]
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


@bp.get("/actors/<actor_id>/executions/<execution_id>/logs")
def get_logs(actor_id: str, execution_id: str):
    actor = load_actor(actor_id, Level.READ)
    load_execution(actor, execution_id)
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
