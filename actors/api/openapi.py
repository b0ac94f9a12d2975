"""The API's own OpenAPI 3 description, served at ``GET /docs/openapi.json`` (no token needed).

Written here, next to the routes, so a test can check that every route is described and
every description has a route; the shapes follow the public Abaco API.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from actors import __version__, fields

bp = Blueprint("openapi", __name__)


def _obj(properties: dict, required: tuple = ()) -> dict:
    out = {"type": "object", "properties": properties}
    if required:
        out["required"] = list(required)
    return out


STR, INT, NUM, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}
TIME = {"type": "string", "format": "date-time"}

ACTOR_INPUT = fields.input_schema()
ACTOR = _obj({"id": STR, "owner": STR, "status": STR, "status_message": STR, "revision": INT,
              "create_time": TIME, "last_update_time": TIME, **ACTOR_INPUT["properties"]})
EXECUTION = _obj({"id": STR, "actor_id": STR, "worker_id": STR, "executor": STR, "status": STR,
                  "status_message": STR, "message_received_time": TIME, "start_time": TIME,
                  "finish_time": TIME, "runtime": NUM, "cpu": INT, "io": INT, "memory_peak": INT,
                  "exit_code": INT, "attempts": INT, "final_state": {"type": "object"}})
WORKER = _obj({"id": STR, "actor_id": STR, "status": STR, "host_id": STR, "create_time": TIME,
               "last_health_check_time": TIME, "last_execution_time": TIME, "cid": STR, "image": STR,
               "location": STR, "ch_name": STR, "tenant": STR})
HOST = _obj({"host_id": STR, "labels": {"type": "array", "items": STR}, "queues": {"type": "array", "items": STR},
             "capacity": INT, "running_workers": INT, "tenant_workers": INT, "last_heartbeat": TIME,
             "registered": TIME, "status": {"type": "string", "enum": ["live", "silent"]}})
TOTALS = _obj({"executions": INT, "complete": INT, "error": INT, "cpu_seconds": NUM,
               "runtime_seconds": NUM, "memory_peak_max": INT, "io_bytes": INT})


def envelope(result: dict | None = None) -> dict:
    return _obj({"status": {"type": "string", "enum": ["success", "error"]}, "message": STR,
                 "result": result or {}, "version": STR}, ("status", "message", "result", "version"))


def _responses(result: dict | None = None, raw: str | None = None) -> dict:
    ok = {"content": {raw: {"schema": {"type": "string"}}}} if raw else \
        {"content": {"application/json": {"schema": envelope(result)}}}
    error = {"description": "an error, in the envelope",
             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}}}
    return {"200": {"description": "success", **ok}, "400": error, "401": error, "403": error,
            "404": error, "413": error, "429": error, "503": error}


def _path_params(*names: str) -> list[dict]:
    return [{"name": n, "in": "path", "required": True, "schema": STR} for n in names]


def _query(**kinds) -> list[dict]:
    return [{"name": n, "in": "query", "required": False, "schema": s} for n, s in kinds.items()]


def _json_body(schema: dict, required: bool = True, form: bool = True) -> dict:
    """A body of JSON or, with ``form``, the same fields as a form (``curl -d``; ``actors/fields.py``)."""
    content = {"application/json": {"schema": schema}}
    if form:
        content["application/x-www-form-urlencoded"] = {"schema": schema}
    return {"required": required, "content": content}


def op(summary: str, result: dict | None = None, params=(), body: dict | None = None,
       raw: str | None = None, security: bool = True) -> dict:
    out = {"summary": summary, "parameters": list(params), "responses": _responses(result, raw)}
    if body is not None:
        out["requestBody"] = body
    if not security:
        out["security"] = []
    return out


A, AE = _path_params("actor_id"), _path_params("actor_id", "execution_id")
AL = _path_params("alias")
LEVEL = {"type": "string", "enum": ["NONE", "READ", "EXECUTE", "UPDATE"]}
GRANT = _obj({"user": STR, "level": LEVEL}, ("user", "level"))
NONCE_INPUT = _obj({"level": LEVEL, "max_uses": INT})
NONCE = _obj({"id": STR, "level": STR, "max_uses": INT, "remaining_uses": INT, "current_uses": INT,
              "owner": STR, "create_time": TIME})
CONFIG_INPUT = _obj({"name": STR, "value": STR, "actors": STR, "is_secret": BOOL})
CONFIG = _obj({"name": STR, "value": STR, "actors": STR, "is_secret": BOOL, "owner": STR, "create_time": TIME})
ALIAS_INPUT = _obj({"alias": STR, "actor_id": STR}, ("actor_id",))
ALIAS = _obj({"alias": STR, "actor_id": STR, "owner": STR, "create_time": TIME})
MESSAGE_BODY = {"required": True, "content": {
    "application/x-www-form-urlencoded": {"schema": _obj({"message": STR}, ("message",))},
    "application/json": {"schema": {}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
}}
BATCH_ITEM = {"oneOf": [STR, _obj({"message": STR, "json": {}, "binary": {"type": "string", "format": "byte"},
                                  "env": {"type": "object", "additionalProperties": STR}})]}
BATCH_BODY = {"required": True, "content": {"application/json": {"schema": {"oneOf": [
    {"type": "array", "items": BATCH_ITEM}, _obj({"messages": {"type": "array", "items": BATCH_ITEM}}, ("messages",))]}}}}
WAIT_BODY = _json_body(_obj({"ids": {"type": "array", "items": STR}, "timeout": NUM}, ("ids",)), form=False)


def _sharing(base: str, param: str, what: str) -> dict:
    """The permissions and nonces paths of an actor or an alias."""
    one, with_nonce = _path_params(param), _path_params(param, "nonce_id")
    levels = {"type": "object", "additionalProperties": STR}
    return {
        f"{base}/permissions": {
            "get": op(f"Who holds which level on the {what}.", levels, one),
            "post": op(f"Grant a level on the {what} (NONE removes it).", levels, one, _json_body(GRANT)),
        },
        f"{base}/nonces": {
            "get": op(f"The {what}'s nonces.", {"type": "array", "items": NONCE}, one),
            "post": op(f"Make a nonce for the {what}.", NONCE, one, _json_body(NONCE_INPUT, required=False)),
        },
        f"{base}/nonces/{{nonce_id}}": {
            "get": op(f"Read a nonce of the {what}.", NONCE, with_nonce),
            "delete": op(f"Delete a nonce of the {what}.", None, with_nonce),
        },
    }


PATHS = {
    "/actors": {
        "get": op("List the actors the caller may read.", {"type": "array", "items": ACTOR}),
        "post": op("Register an actor.", ACTOR, body=_json_body(ACTOR_INPUT)),
    },
    "/actors/{actor_id}": {
        "get": op("Read an actor.", ACTOR, A),
        "put": op("Update an actor (a new image or force bumps the revision).", ACTOR, A, _json_body(ACTOR_INPUT)),
        "delete": op("Delete an actor, its workers and its mailbox.", None, A),
    },
    "/actors/{actor_id}/messages": {
        "get": op("How many messages wait in the actor's mailbox.", _obj({"messages": INT}), A),
        "delete": op("Drop the waiting messages; their executions end as ERROR.", _obj({"messages": INT}), A),
        "post": op("Send a message: one execution.", _obj({"execution_id": STR, "msg": STR}),
                   A + _query(_abaco_synchronous=BOOL), MESSAGE_BODY),
    },
    "/actors/{actor_id}/messages/batch": {
        "post": op("Send many messages in one request, all accepted or none: one execution each.",
                   _obj({"execution_ids": {"type": "array", "items": STR}, "count": INT}), A, BATCH_BODY),
    },
    "/actors/{actor_id}/executions/wait": {
        "post": op("Wait until one of the named executions has ended (or the timeout passes).",
                   _obj({"finished": {"type": "array", "items": EXECUTION},
                         "pending": {"type": "array", "items": STR}}), A, WAIT_BODY),
    },
    "/actors/{actor_id}/executions": {
        "get": op("List an actor's executions with totals.",
                  _obj({"executions": {"type": "array", "items": EXECUTION}, "total_executions": INT}),
                  A + _query(offset={"type": "integer", "minimum": 0}, limit={"type": "integer", "minimum": 1})),
    },
    "/actors/{actor_id}/executions/{execution_id}": {
        "get": op("Read an execution: status, times, cpu, memory, io, exit code.", EXECUTION, AE),
        "delete": op("Force-quit a running execution (or cancel one not started).", EXECUTION, AE),
    },
    "/actors/{actor_id}/executions/{execution_id}/logs": {
        "get": op("An execution's logs. With follow=true, a 307 to the live log stream (server-sent events; "
                  "see the README's Live logs).", _obj({"logs": STR}),
                  AE + _query(follow={"type": "boolean"}, tail={"type": "integer", "minimum": 0, "maximum": 10**7})),
    },
    "/actors/{actor_id}/executions/{execution_id}/results": {
        "get": op("The next result an execution sent (one per call).", raw="application/octet-stream", params=AE),
    },
    "/actors/{actor_id}/workers": {
        "get": op("List an actor's workers.", {"type": "array", "items": WORKER}, A),
        "post": op("Ask for workers.", _obj({"requested": INT}), A,
                   _json_body(_obj({"num": {"type": "integer", "minimum": 1}}), required=False)),
    },
    "/actors/{actor_id}/workers/{worker_id}": {
        "get": op("One worker.", WORKER, _path_params("actor_id", "worker_id")),
        "delete": op("Stop one worker cleanly.", WORKER, _path_params("actor_id", "worker_id")),
    },
    "/actors/{actor_id}/autoscaling": {
        "get": op("The autoscaler's last decisions for the actor: time, desired, current, direction, reason.",
                  _obj({"autoscale": BOOL, "workers": INT,
                        "decisions": {"type": "array", "items": {"type": "object"}}}), A),
    },
    **_sharing("/actors/{actor_id}", "actor_id", "actor"),
    "/actors/aliases": {
        "get": op("The aliases the caller may read.", {"type": "array", "items": ALIAS}),
        "post": op("Make an alias for an actor.", ALIAS, body=_json_body(ALIAS_INPUT)),
    },
    "/actors/aliases/{alias}": {
        "get": op("Read an alias.", ALIAS, AL),
        "put": op("Point an alias at another actor.", ALIAS, AL, _json_body(ALIAS_INPUT)),
        "delete": op("Delete an alias.", None, AL),
    },
    **_sharing("/actors/aliases/{alias}", "alias", "alias"),
    "/actors/configs": {
        "get": op("The configs the caller may read (secret values hidden).", {"type": "array", "items": CONFIG}),
        "post": op("Make a config.", CONFIG, body=_json_body(CONFIG_INPUT)),
    },
    "/actors/configs/{name}": {
        "get": op("Read a config.", CONFIG, _path_params("name")),
        "put": op("Change a config.", CONFIG, _path_params("name"), _json_body(CONFIG_INPUT)),
        "delete": op("Delete a config.", None, _path_params("name")),
    },
    "/actors/configs/{name}/permissions": {
        "get": op("Who holds which level on the config.", {"type": "object"}, _path_params("name")),
        "post": op("Grant a level on the config.", {"type": "object"}, _path_params("name"), _json_body(GRANT)),
    },
    "/actors/search/{kind}": {
        "get": op("Search actors, executions, workers or logs (field filters: field.op=value).",
                  _obj({"search": {"type": "array", "items": {"type": "object"}}, "_metadata": {"type": "object"}}),
                  [{"name": "kind", "in": "path", "required": True,
                    "schema": {"type": "string", "enum": ["actors", "executions", "workers", "logs"]}}]
                  + _query(search=STR, exactsearch=STR, skip={"type": "integer", "minimum": 0},
                           limit={"type": "integer", "minimum": 1})),
    },
    "/admin/hosts": {
        "get": op("Admins: the compute hosts (id, labels, queues, capacity, running workers, last heartbeat, "
                  "live or silent).",
                  {"type": "array", "items": HOST}),
    },
    "/actors/utilization": {
        "get": op("Admins: counts of actors, workers, executions, running.",
                  _obj({"actors": INT, "workers": INT, "executions": INT, "running": INT})),
    },
    "/actors/{actor_id}/state": {
        "get": op("A stateful actor's state.", _obj({"state": {}}), A),
        "post": op("Replace a stateful actor's state (any JSON).", _obj({"state": {}}), A,
                   _json_body({}, required=True, form=False)),
    },
    "/accounting": {
        "get": op("Totals per user and per actor of what finished executions used.",
                  _obj({"total": TOTALS, "users": {"type": "array", "items": TOTALS},
                        "actors": {"type": "array", "items": TOTALS}}),
                  _query(user=STR, actor=STR, since=STR, until=STR)),
    },
    "/metrics": {
        "get": op("Prometheus metrics (open on loopback, else an admin token).", raw="text/plain"),
    },
    "/oauth2/clients": {
        "get": op("List the caller's OAuth clients.", {"type": "array", "items": {"type": "object"}}),
        "post": op("Register an OAuth client; its secret is shown once.",
                   _obj({"client_id": STR, "client_secret": STR}),
                   body=_json_body(_obj({"name": STR, "description": STR}), required=False)),
    },
    "/oauth2/clients/{client_id}": {
        "get": op("Read an OAuth client.", {"type": "object"}, _path_params("client_id")),
        "delete": op("Delete an OAuth client, revoking its tokens.", None, _path_params("client_id")),
    },
    "/oauth2/token": {
        "post": op("Client credentials or refresh-token grant.",
                   _obj({"access_token": STR, "refresh_token": STR, "expires_in": INT, "token_type": STR}),
                   body={"required": True, "content": {"application/x-www-form-urlencoded": {"schema": _obj({
                       "grant_type": {"type": "string", "enum": ["client_credentials", "refresh_token"]},
                       "client_id": STR, "client_secret": STR, "refresh_token": STR}, ("grant_type",))}}},
                   security=False),
    },
    "/docs/openapi.json": {
        "get": {"summary": "This description.", "security": [], "parameters": [],
                "responses": {"200": {"description": "the OpenAPI document",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}}},
    },
}


def spec() -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Actor platform API (Abaco-compatible)", "version": __version__},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                                "nonce": {"type": "apiKey", "in": "query", "name": "x-nonce"}},
            "schemas": {"Envelope": envelope()},
        },
        "security": [{"bearer": []}, {"nonce": []}],
        "paths": PATHS,
    }


@bp.get("/docs/openapi.json")
def openapi_document():
    return jsonify(spec())
