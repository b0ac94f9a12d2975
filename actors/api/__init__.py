"""The HTTP API: a Flask app factory, one blueprint per resource.

Every response, success or error, is the JSON envelope
``{"status", "message", "result", "version"}`` (the only exceptions are the raw bytes of
an execution's results and a synchronous execution's output, as in Abaco, and the
Prometheus text of /metrics and the OpenAPI document at /docs/openapi.json). Errors are
raised where they are found (``actors.errors``) and turned into the envelope here only.
"""

from __future__ import annotations

import logging
import socket

from flask import Flask, g, request
from werkzeug.exceptions import HTTPException

from actors import __version__
from actors import config as config_mod
from actors.api.common import Services, envelope
from actors.auth import Authenticator, ensure_signing_key
from actors.channels import Broker, ChannelUnavailable
from actors.config import Config
from actors.errors import AbacoError, ForbiddenError, UnauthorizedError
from actors.message import too_large
from actors.nonces import identity_for as nonce_identity
from actors.store import Stores, StoreUnavailable, open_stores
from actors.waits import for_threads

log = logging.getLogger("api")

CORS_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
CORS_HEADERS = "Authorization, Content-Type, X-Requested-With"
# Endpoints that decide for themselves who may call them.
SELF_AUTHENTICATING = {"metrics.metrics", "oauth2.token", "openapi.openapi_document"}
# The only routes a nonce opens: its own actor's, within its level. A nonce makes nothing
# (no actor, alias, config, nonce, permission, worker or OAuth client) and reads nothing
# beyond its actor (no listing, search, accounting or metrics).
NONCE_ENDPOINTS = frozenset({
    "actors.get_actor", "actors.update_actor", "actors.delete_actor",
    "messages.queue_length", "messages.send_message", "messages.purge_messages",
    "executions.list_executions", "executions.get_execution", "executions.force_quit",
    "executions.get_logs", "executions.get_results", "executions.wait_executions",
    "workers.list_workers", "workers.get_worker", "state.get_state", "state.set_state",
})
# The only routes an execution's own token opens: its actor's settings and state, its
# executions, and sending messages (to its own actor and to the one it links to).
EXECUTION_ENDPOINTS = frozenset({
    "actors.get_actor", "state.get_state", "state.set_state", "messages.send_message",
    "executions.get_execution",
})
# In the modes where a browser would send the credentials by itself (a client certificate,
# or no credentials at all), a state-changing request must show it was not sent cross-site
# by a web page: JSON, or a header no page can add without the API's consent (CORS).
BROWSER_PROOF_HEADER = "X-Requested-With"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Abaco's phrase for a path or method it does not serve (405 there in both cases).
NO_ENDPOINT = "Invalid request: the API endpoint does not exist or the provided HTTP method is not allowed."
_HTTP_MESSAGES = {
    404: f"{NO_ENDPOINT} No such resource: check the URL (actor ids are case sensitive).",
    413: "the request body is too large",
}
# What Abaco answers instead of werkzeug's own codes (routing, body size), in compat = abaco.
_ABACO_HTTP_CODES = {404: 405, 413: 400}


def via_unix_socket(environ) -> bool:
    """Whether the request came over the API's unix socket (the one mounted into containers)."""
    sock = environ.get("gunicorn.socket")
    return getattr(sock, "family", None) == socket.AF_UNIX


def _only_execution_routes() -> None:
    if request.endpoint not in EXECUTION_ENDPOINTS:
        raise ForbiddenError("an execution's token opens only its own actor's settings, state and executions, "
                             "and sending messages to it or to the actor it links to; not this route")


# Abaco's clients call /actors/v2/... (agavepy) and Tapis v3's /v3/actors/...: the same
# routes as /actors/..., in every access mode.
PATH_PREFIXES = (("/actors/v2", "/actors"), ("/v3/actors", "/actors"))


def versioned_paths(wsgi_app):
    """WSGI middleware serving each of PATH_PREFIXES as the path it stands for."""
    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        for prefix, target in PATH_PREFIXES:
            if path == prefix or path.startswith(prefix + "/"):
                environ["PATH_INFO"] = target + path[len(prefix):]
                break
        return wsgi_app(environ, start_response)
    return app


def create_app(config: Config | None = None, stores: Stores | None = None,
               broker: Broker | None = None) -> Flask:
    config = config or config_mod.load()
    ensure_signing_key(config)
    app = Flask("actors", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = max(config.web.max_body_bytes, config.web.max_message_bytes + 65536)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    stores = stores or open_stores(config)
    broker = broker or Broker(config)
    waits = for_threads(config.web.max_sync_waits_per_user, config.web.max_sync_waits, config.web.gunicorn_threads)
    app.extensions["abaco"] = Services(config=config, stores=stores, broker=broker,
                                       authenticator=Authenticator(config, stores), waits=waits)

    from actors.api import (
        accounting,
        actors,
        admin,
        aliases,
        configs,
        executions,
        messages,
        metrics,
        nonces,
        oauth2,
        openapi,
        permissions,
        search,
        state,
        workers,
    )
    for module in (aliases, configs, search, actors, messages, executions, workers, state, permissions, nonces,
                   accounting, metrics, oauth2, openapi, admin):
        app.register_blueprint(module.bp)

    @app.before_request
    def authenticate():
        if request.method == "OPTIONS":
            return envelope(None, "preflight ok")
        if request.endpoint in SELF_AUTHENTICATING:
            return None
        sv = app.extensions["abaco"]
        if via_unix_socket(request.environ):
            # Containers reach the API over its socket: only an execution's own token, in every mode.
            g.identity = sv.authenticator.execution_identity(request.headers)
            _only_execution_routes()
            return None
        if config.web.access_control in ("mtls", "none") and request.method not in SAFE_METHODS \
                and request.mimetype != "application/json" and not request.headers.get(BROWSER_PROOF_HEADER):
            raise ForbiddenError(f"in {config.web.access_control} mode a {request.method} needs the header "
                                 f"{BROWSER_PROOF_HEADER} (any value) or a JSON body, so that no web page can "
                                 f"send it on your behalf")
        try:
            g.identity = sv.authenticator.identify(request.headers, request.remote_addr)
            if g.identity.execution is not None:
                _only_execution_routes()
        except UnauthorizedError:
            if not request.args.get("x-nonce"):
                raise
            g.identity = nonce_identity(sv.stores, request.args["x-nonce"])   # in every mode
            if request.endpoint not in NONCE_ENDPOINTS:
                raise ForbiddenError("a nonce opens only its own actor's /actors/{id}/... routes (its settings, "
                                     "messages, executions, logs, results, workers and state); not this one") \
                    from None
        return None

    allowed_origins = set(config.web.cors_origins)

    @app.after_request
    def cors(response):
        """Only the configured origins (none by default) may read answers from a browser; the
        platform never allows credentials cross-origin, so "*" can never mean "with mine"."""
        origin = request.headers.get("Origin")
        if origin and (origin in allowed_origins or "*" in allowed_origins):
            response.headers["Access-Control-Allow-Origin"] = origin if origin in allowed_origins else "*"
            response.headers["Vary"] = "Origin"
            response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
            response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"
        return response

    @app.errorhandler(AbacoError)
    def abaco_error(exc: AbacoError):
        return envelope(None, exc.message, status=exc.status_for(config.web.compat))

    @app.errorhandler(StoreUnavailable)
    @app.errorhandler(ChannelUnavailable)
    def unavailable(exc):
        log.warning("backing service unavailable: %s", exc)
        return envelope(None, f"a backing service is unavailable, nothing was changed: {exc}", status=503)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = exc.code or 500
        message = _HTTP_MESSAGES.get(code) or exc.description or "error"
        if code == 405:
            message = f"{NO_ENDPOINT} Method {request.method} is not allowed on {request.path}."
        if code == 413:
            message = f"{too_large(app.config['MAX_CONTENT_LENGTH'])} The request body is too large."
        if config.web.compat == "abaco":
            code = _ABACO_HTTP_CODES.get(code, code)
        return envelope(None, message, status=code)

    @app.errorhandler(RecursionError)
    def too_deep(exc: RecursionError):
        # New JSON is refused past [web] max_json_depth; only an older stored document gets here.
        log.warning("a document too deeply nested on %s %s: %s", request.method, request.path, exc)
        return envelope(None, f"a stored document is nested too deeply to be read here (new JSON may nest at "
                              f"most {config.web.max_json_depth} levels, [web] max_json_depth); its owner can "
                              f"replace it, e.g. with POST /actors/{{id}}/state", status=400)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return envelope(None, f"internal error: {type(exc).__name__}", status=500)

    app.config["VERSION"] = __version__
    app.wsgi_app = versioned_paths(app.wsgi_app)  # type: ignore[method-assign]
    return app
