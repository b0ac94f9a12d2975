"""/actors/{id}/messages: send a message (one execution), read the queue length.

A message is a raw string (form field ``message``), a JSON document
(``Content-Type: application/json``) or raw bytes (``application/octet-stream``).
Query parameters other than the reserved ones become environment variables of that
execution. The execution record is written before the message is published, and the
publish waits for RabbitMQ's confirm: a 200 means the message is durably queued.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, g, request

from actors import batch, channels, configs, jsondepth, mailbox, message_env, prepared, times
from actors.api import hypermedia
from actors.api.common import base_url, identity, load_actor, ok, services
from actors.codes import EXECUTION_TERMINAL, ActorStatus, ExecutionStatus, Level
from actors.errors import BadRequestError, PayloadTooLargeError
from actors.message import BINARY, message_field, too_large

log = logging.getLogger("api")
bp = Blueprint("messages", __name__)

SYNC_BEHIND_QUEUE = "Cannot issue synchronous execution when actor message queue > 0."
# One environment variable may hold at most 128 KiB (the kernel's MAX_ARG_STRLEN).
MAX_ENV_MESSAGE = 131072 - 8


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1", "yes")


def _read_message() -> tuple[bytes, str]:
    """The message bytes and its content type ('str', 'application/json' or binary)."""
    sv = services()
    limit = sv.config.web.max_message_bytes
    if request.content_length and request.content_length > limit + 65536:
        raise PayloadTooLargeError(f"{too_large(limit)} The message is larger than the limit of {limit} bytes.")
    mimetype = request.mimetype
    if mimetype == "application/json":
        raw = request.get_data(cache=True)
        jsondepth.check(raw, sv.config.web.max_json_depth, "the JSON message")
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequestError(f"the message is declared application/json but is not valid JSON: {exc}") from None
        text = message_field(doc)
        body, kind = (raw, "application/json") if text is None else (text.encode("utf-8"), "str")
    elif mimetype == BINARY:
        body, kind = request.get_data(cache=True), BINARY
    else:
        message = request.form.get("message") if request.form else None
        if message is None and request.args.get("message") is not None:
            message = request.args.get("message")
        if message is None:
            raise BadRequestError("no message: send form field 'message', a JSON body with "
                                  "Content-Type: application/json, or bytes with "
                                  "Content-Type: application/octet-stream")
        body, kind = message.encode("utf-8"), "str"
    if len(body) > limit:
        raise PayloadTooLargeError(f"{too_large(limit)} The message is {len(body)} bytes; the limit is {limit} bytes.")
    if kind != BINARY and len(body) > MAX_ENV_MESSAGE:
        raise PayloadTooLargeError(f"{too_large(MAX_ENV_MESSAGE)} A string or JSON message travels in the MSG "
                                   f"environment variable "
                                   f"and may be at most {MAX_ENV_MESSAGE} bytes; send larger data "
                                   f"as application/octet-stream")
    return body, kind


def _environment(actor: dict, own: dict[str, str] | None = None) -> dict[str, str]:
    """The message's query parameters (then ``own`` variables) as variables
    (``actors/message_env.py`` decides which)."""
    def has_secrets() -> bool:
        if "has_secrets" not in g:        # read once per request, however many messages ask
            g.has_secrets = configs.has_secrets(configs.of_actor(services().stores, actor))
        return g.has_secrets
    params = list(request.args.items(multi=True)) + list((own or {}).items())
    return message_env.accept(params, actor, has_secrets)


@bp.get("/actors/<actor_id>/messages")
def queue_length(actor_id: str):
    actor = load_actor(actor_id, Level.READ)
    sv = services()
    count = mailbox.waiting(sv.config, sv.stores, sv.broker, actor["id"])
    return ok({"messages": count, "_links": {"self": f"{base_url()}/actors/{actor['id']}/messages"}},
              f"The number of messages waiting for actor {actor['id']}.")


@bp.delete("/actors/<actor_id>/messages")
def purge_messages(actor_id: str):
    """Drop the messages still waiting; their executions end as ERROR saying so."""
    sv = services()
    actor = load_actor(actor_id, Level.UPDATE)
    purged = sv.broker.purge(channels.actor_queue(sv.config, actor["id"]))
    # A worker may hold the next message ahead of its turn (actors/prepared.py): it is out of
    # the queue but still waiting; cancelling its execution makes the worker drop it.
    held = prepared.held_executions(sv.stores, actor["id"])
    cancelled = 0
    for execution in sv.stores.executions.group_docs(actor["id"]):
        if execution.get("status") == ExecutionStatus.SUBMITTED and not execution.get("worker_id"):
            done = sv.stores.executions.update(execution["id"], {
                "status": ExecutionStatus.ERROR, "finish_time": times.now(),
                "status_message": f"purged from the mailbox by {identity().user} before it ran"},
                expect={"status": ExecutionStatus.SUBMITTED})
            if done is not None:
                sv.stores.execution_done(execution["id"])
                cancelled += 1
                purged += execution["id"] in held
    return ok({"messages": purged, "executions_cancelled": cancelled},
              f"Purged {purged} message(s) waiting for actor {actor['id']}.")


@bp.post("/actors/<actor_id>/messages")
def send_message(actor_id: str):
    sv = services()
    actor = load_actor(actor_id, Level.EXECUTE)
    if actor.get("status") == ActorStatus.ERROR:
        raise BadRequestError(f"actor {actor['id']} is in ERROR ({actor.get('status_message')}); "
                              f"fix it with PUT /actors/{actor['id']} before sending messages")
    body, kind = _read_message()
    env = _environment(actor)
    if _truthy(request.args.get("_abaco_synchronous")):
        if sv.config.web.compat == "abaco" and \
                mailbox.waiting(sv.config, sv.stores, sv.broker, actor["id"]) > 0:
            # Abaco's rule: a synchronous answer would wait behind the messages already queued.
            raise BadRequestError(f"{SYNC_BEHIND_QUEUE} Actor {actor['id']} has messages waiting; send this one "
                                  f"without _abaco_synchronous and poll its execution ([web] compat = http "
                                  f"lets it wait behind them)")
        who = f"{identity().tenant}/{identity().user}"
        with sv.waits.held(who):      # a 429 here sends nothing
            execution = mailbox.send(sv.config, sv.stores, sv.broker, actor, body, kind, identity().user, env)
            return _wait(actor, execution["id"])
    execution = mailbox.send(sv.config, sv.stores, sv.broker, actor, body, kind, identity().user, env)
    text = body.decode("utf-8", errors="replace") if kind != BINARY else f"<{len(body)} bytes>"
    base = base_url()
    return ok({"execution_id": execution["id"], "executionId": execution["id"], "msg": text,
               "_links": {"self": f"{base}/actors/{actor['id']}/executions/{execution['id']}",
                          "owner": hypermedia.owner(base, actor["owner"]),
                          "messages": f"{base}/actors/{actor['id']}/messages"}},
              "The request was successful")


@bp.post("/actors/<actor_id>/messages/batch")
def send_batch(actor_id: str):
    """Many messages in one request, all accepted or none (``actors/batch.py``: the body;
    ``mailbox.send_batch``: one broker transaction). Not open to nonces: a nonce counts one
    use per request, and a batch would turn one use into many messages."""
    sv = services()
    actor = load_actor(actor_id, Level.EXECUTE)
    if actor.get("status") == ActorStatus.ERROR:
        raise BadRequestError(f"actor {actor['id']} is in ERROR ({actor.get('status_message')}); "
                              f"fix it with PUT /actors/{actor['id']} before sending messages")
    if _truthy(request.args.get("_abaco_synchronous")):
        raise BadRequestError("a batch cannot be synchronous: wait for its executions with "
                              f"POST /actors/{actor['id']}/executions/wait")
    if request.mimetype != "application/json":
        raise BadRequestError("a batch is sent as Content-Type: application/json")
    web = sv.config.web
    limits = batch.Limits(web.max_batch_messages, web.max_message_bytes, MAX_ENV_MESSAGE, web.max_json_depth)
    items = [batch.item(i, raw, limits) for i, raw in enumerate(batch.items_of(request.get_data(cache=True), limits))]
    envs = []
    for i, one in enumerate(items):
        try:
            envs.append(_environment(actor, one.env))
        except BadRequestError as exc:
            raise BadRequestError(f"message {i} of the batch: {exc.message} (nothing was sent)") from None
    executions = mailbox.send_batch(sv.config, sv.stores, sv.broker, actor,
                                    [(one.body, one.kind, env) for one, env in zip(items, envs, strict=True)], identity().user)
    base = f"{base_url()}/actors/{actor['id']}"
    ids = [e["id"] for e in executions]
    return ok({"execution_ids": ids, "executionIds": ids, "count": len(ids),
               "_links": {"executions": f"{base}/executions", "wait": f"{base}/executions/wait",
                          "owner": hypermedia.owner(base_url(), actor["owner"])}},
              f"{len(ids)} messages queued.")


def _wait(actor: dict, execution_id: str):
    """Wait for a synchronous execution; return its first result, else its logs."""
    sv = services()
    finished = sv.stores.wait_execution(execution_id, sv.config.web.sync_timeout)
    execution = sv.stores.executions.find(execution_id) or {}
    headers = {"X-Abaco-Execution-Id": execution_id, "X-Abaco-Execution-Status": execution.get("status", "")}
    if not finished or execution.get("status") not in EXECUTION_TERMINAL:
        return ok({"execution_id": execution_id, "status": execution.get("status")},
                  f"the execution did not finish within {sv.config.web.sync_timeout} s; "
                  f"poll /actors/{actor['id']}/executions/{execution_id}")
    if execution.get("has_results"):
        result = sv.stores.results.pop_list(execution_id)
        if result is not None:
            return Response(result, mimetype=BINARY, headers=headers)
    logs = sv.stores.logs.get(execution_id) or b""
    return Response(logs, mimetype="text/plain", headers=headers)
