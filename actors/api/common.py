"""What every blueprint shares: the services, the envelope, loading an actor the caller may use."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Collection

from flask import Response, current_app, g, request

from actors import __version__, fields, jsondepth, links, models, nonces, permissions, search
from actors.api import hypermedia
from actors.auth import Authenticator, Identity
from actors.channels import Broker
from actors.config import Config
from actors.errors import BadRequestError, NotFoundError
from actors.store import Stores
from actors.waits import WaitSlots


@dataclass
class Services:
    config: Config
    stores: Stores
    broker: Broker
    authenticator: Authenticator
    waits: WaitSlots


def services() -> Services:
    return current_app.extensions["abaco"]


def identity() -> Identity:
    return g.identity


def envelope(result, message: str, status: int = 200):
    body = {"status": "success" if status < 400 else "error", "message": message,
            "result": result, "version": __version__}
    try:
        text = json.dumps(body, separators=(",", ":"), default=str)
    except RecursionError:      # a document stored before [web] max_json_depth existed
        text = search.json_text(body)
    return Response(text, status=status, mimetype="application/json")


def ok(result, message: str = "success", status: int = 200):
    """A success; the message names the body's fields that were ignored (see :func:`body_fields`)."""
    ignored = g.get("ignored_fields")
    if ignored:
        message = f"{message} (ignored unknown field(s): {', '.join(ignored)})"
    return envelope(result, message, status)


def show(doc: dict, hidden: Collection[str] = frozenset()) -> dict:
    """A stored document as the caller sees it, in the configured case."""
    return models.display(doc, services().config.web.case, hidden)


def find_alias(alias: str) -> dict | None:
    return services().stores.aliases.find(f"{identity().tenant}:{alias}")


def load_actor(actor_id: str, level: int) -> dict:
    """The actor (``actor_id`` may be an alias), if the caller may act on it at ``level``.

    404 when the caller has no access at all (the words of an unknown actor), 403 when their
    level is too low (400 in compat = abaco). A nonce is checked against this actor and one
    of its uses counted.
    """
    sv, who = services(), identity()
    actor = sv.stores.actors.find(actor_id)
    alias = None
    if actor is None:
        alias = find_alias(actor_id)
        if alias is not None:
            actor = sv.stores.actors.find(alias["actor_id"])
    if actor is None or actor.get("tenant", "default") != who.tenant:
        raise permissions.not_found("actor", actor_id)
    if who.nonce is not None:
        nonces.use(sv.stores, who, level, actor, alias)
        return actor
    if who.execution is not None and actor["id"] not in _execution_reach(who):
        raise permissions.not_found("actor", actor_id)
    permissions.require(sv.stores, who, "actor", actor, level, actor_id)
    return actor


def _execution_reach(who) -> set[str]:
    """The actors an execution's own token may act on: its own; for sending a message, also
    the actor its actor links to."""
    sv = services()
    own_id = who.execution[0]
    reach = {own_id}
    if request.endpoint == "messages.send_message":
        own = sv.stores.actors.find(own_id) or {}
        if own.get("link"):
            target = links.resolve(sv.stores, who.tenant, own["link"])
            if target is not None:
                reach.add(target["id"])
    return reach


def load_execution(actor: dict, execution_id: str) -> dict:
    execution = services().stores.executions.find(execution_id)
    if execution is None or execution.get("actor_id") != actor["id"]:
        # Abaco answers an unknown execution with 400.
        raise NotFoundError(f"No executions found with actor id of {actor['id']} and execution id of "
                            f"{execution_id}.", abaco_status=400)
    return execution


def json_body(required: bool = True):
    """The parsed JSON body, or form fields as a dict; a clear 400 when unparseable.

    JSON is read only from a request that says ``Content-Type: application/json``: a
    browser cannot send that cross-site without asking the API first (CORS), while it can
    send ``text/plain`` from any page.
    """
    if request.mimetype == "application/json":
        raw = request.get_data(cache=True)
        if not raw.strip():
            if required:
                raise BadRequestError("the request body is empty; send a JSON object")
            return {}
        jsondepth.check(raw, services().config.web.max_json_depth, "the request body")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequestError(f"the request body is not valid JSON: {exc}") from None
    if request.form:
        return request.form.to_dict()
    if request.get_data(cache=True).strip():
        raise BadRequestError(f"a body of type {request.mimetype or 'unknown'!r} is not read: send JSON with "
                              f"Content-Type: application/json, or form fields")
    if required:
        raise BadRequestError("the request body is empty; send a JSON object (Content-Type: application/json)")
    return {}


def body_fields(kinds: dict[str, str], required: bool = True) -> dict:
    """The body's fields (snake case) that ``kinds`` names (a table of ``actors/fields.py``).

    A JSON object as sent, or form fields (``-d``, multipart) converted as Abaco reads them
    (:func:`actors.fields.from_form`). Fields not in ``kinds`` are dropped and named in the
    answer's message (:func:`ok`), or refused with ``[web] strict_fields = true``.
    """
    if request.mimetype != "application/json" and request.form:
        body: object = fields.from_form(request.form, kinds, services().config.web.max_json_depth)
    else:
        body = json_body(required)
    data = fields.normalise_input(body)
    data, ignored = fields.known(data, kinds, services().config.web.strict_fields)
    if ignored:
        g.ignored_fields = ignored
    return data


def base_url() -> str:
    """The scheme and host the caller used (Abaco's links are absolute, on the request's host).

    Behind the platform's TLS proxy (a ``[auth] trusted_proxies`` address) the scheme is the
    one nginx names in X-Forwarded-Proto; from anyone else the header is ignored.
    """
    scheme = request.scheme
    forwarded = request.headers.get("X-Forwarded-Proto", "")
    if forwarded in ("http", "https") and request.remote_addr in services().config.auth.trusted_proxies:
        scheme = forwarded
    return f"{scheme}://{request.host}"


def actor_links(actor: dict) -> dict:
    return hypermedia.actor(base_url(), actor)


def show_worker(worker: dict, actor: dict) -> dict:
    """A worker record as Abaco shows it (an admin-style record: its tenant included)."""
    out = show(models.worker_view(worker))
    out["tenant"] = worker.get("tenant", "default")
    out["_links"] = hypermedia.worker(base_url(), worker, actor.get("owner"))
    return out


def show_nonce(nonce: dict) -> dict:
    out = show(models.nonce_view(nonce))
    out["_links"] = hypermedia.nonce(base_url(), nonce)
    return out
