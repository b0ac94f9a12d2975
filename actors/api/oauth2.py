"""/oauth2: clients for programs and the token endpoint (see actors/oauth.py)."""

from __future__ import annotations

from flask import Blueprint, request

from actors import oauth
from actors.api.common import identity, json_body, ok, services, show
from actors.errors import BadRequestError

bp = Blueprint("oauth2", __name__)


@bp.post("/oauth2/clients")
def create_client():
    body = json_body(required=False) or {}
    if not isinstance(body, dict):
        raise BadRequestError("the body must be a JSON object such as {\"name\": \"my-pipeline\"}")
    name, description = body.get("name", ""), body.get("description", "")
    for field, value in (("name", name), ("description", description)):
        if not isinstance(value, str) or len(value) > 256:
            raise BadRequestError(f"'{field}' must be a string of at most 256 characters")
    client = oauth.create_client(services().stores, identity(), name, description)
    return ok(show(client), "Client created; keep the client_secret, it is not shown again.")


@bp.get("/oauth2/clients")
def list_clients():
    who = identity()
    docs = services().stores.clients.group_docs(oauth.owner_group(who.tenant, who.user))
    return ok([show(oauth.public(c)) for c in docs], "Clients retrieved successfully.")


@bp.get("/oauth2/clients/<client_id>")
def get_client(client_id: str):
    client = oauth.load_client(services().stores, identity(), client_id)
    return ok(show(oauth.public(client)), "Client retrieved successfully.")


@bp.delete("/oauth2/clients/<client_id>")
def delete_client(client_id: str):
    sv = services()
    client = oauth.load_client(sv.stores, identity(), client_id)
    revoked = oauth.delete_client(sv.stores, client)
    return ok(None, f"Client {client_id} deleted; its access tokens and {revoked} refresh token(s) are revoked.")


@bp.post("/oauth2/token")
def token():
    """Form or JSON: grant_type=client_credentials (client id and secret as HTTP Basic or
    fields) or grant_type=refresh_token with refresh_token."""
    sv = services()
    fields = request.form.to_dict() if request.form else (json_body(required=False) or {})
    if not isinstance(fields, dict):
        raise BadRequestError("send the grant as form fields or a JSON object")
    grant = fields.get("grant_type")
    if grant == "client_credentials":
        basic = request.authorization
        client_id = basic.username if basic and basic.type == "basic" else fields.get("client_id")
        secret = basic.password if basic and basic.type == "basic" else fields.get("client_secret")
        result = oauth.client_credentials(sv.config, sv.stores, client_id or "", secret or "")
    elif grant == "refresh_token":
        result = oauth.refresh(sv.config, sv.stores, fields.get("refresh_token", ""))
    else:
        raise BadRequestError("unsupported_grant_type: 'grant_type' must be client_credentials or refresh_token")
    return ok(result, "Token issued.")
