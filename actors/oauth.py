"""OAuth2 clients for programs: client credentials and refresh tokens, revocable.

A user registers a client (``POST /oauth2/clients``) and gets its id and secret once.
``POST /oauth2/token`` with ``grant_type=client_credentials`` (the id and secret as HTTP
Basic or form fields) returns an access token, a JWT of the platform's issuer acting as
the client's owner with the owner's role when the client was made, plus a refresh
token; ``grant_type=refresh_token`` swaps a refresh token for a new pair (the old refresh
token stops working). Deleting the client revokes everything it was given: its
refresh tokens are deleted and its access tokens (which carry its ``client_id``) are
refused from then on.

Secrets and refresh tokens are random 256-bit values; the store keeps only their
SHA-256, so a copy of the store gives no credential away.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from actors import auth, times
from actors.auth import Identity
from actors.config import Config
from actors.errors import BadRequestError, NotFoundError, UnauthorizedError
from actors.store import Stores


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def owner_group(tenant: str, owner: str) -> str:
    return f"{tenant}/{owner}"


def create_client(stores: Stores, who: Identity, name: str = "", description: str = "") -> dict:
    """Register a client owned by the caller; the only time the secret is shown."""
    client_id = "c" + secrets.token_urlsafe(12)
    secret = secrets.token_urlsafe(32)
    client = {"client_id": client_id, "name": name or client_id, "description": description,
              "owner": who.user, "role": who.role, "tenant": who.tenant, "create_time": times.now(),
              "secret_sha256": _digest(secret)}
    stores.clients.put(client_id, client, group=owner_group(who.tenant, who.user))
    return {**public(client), "client_secret": secret}


def public(client: dict) -> dict:
    return {k: v for k, v in client.items() if k not in ("secret_sha256", "tenant")}


def load_client(stores: Stores, who: Identity, client_id: str) -> dict:
    client = stores.clients.find(client_id)
    if client is None or client["tenant"] != who.tenant or \
            (client["owner"] != who.user and not who.is_admin):
        raise NotFoundError(f"no OAuth client {client_id!r}")
    return client


def delete_client(stores: Stores, client: dict) -> int:
    """Delete a client and its refresh tokens; returns how many tokens were revoked."""
    stores.clients.delete(client["client_id"])
    tokens = stores.refresh_tokens.group(client["client_id"])
    for token_id in tokens:
        stores.refresh_tokens.delete(token_id)
    stores.refresh_tokens.drop_group(client["client_id"])
    return len(tokens)


def authenticate_client(stores: Stores, client_id: str, secret: str) -> dict:
    client = stores.clients.find(client_id or "")
    if client is None or not hmac.compare_digest(client["secret_sha256"], _digest(secret or "")):
        raise UnauthorizedError("invalid client: unknown client id or wrong secret")
    return client


def _grant(config: Config, stores: Stores, client: dict) -> dict:
    a = config.auth
    access = auth.issue_token(config, client["owner"], client["role"], client["tenant"],
                              ttl=a.access_token_ttl, client_id=client["client_id"])
    token_id, secret = secrets.token_urlsafe(9), secrets.token_urlsafe(32)
    stores.refresh_tokens.put(token_id, {"client_id": client["client_id"], "sha256": _digest(secret),
                                         "expires": time.time() + a.refresh_token_ttl},
                              group=client["client_id"])
    return {"access_token": access, "token_type": "bearer", "expires_in": a.access_token_ttl,
            "refresh_token": f"{token_id}.{secret}", "client_id": client["client_id"]}


def client_credentials(config: Config, stores: Stores, client_id: str, secret: str) -> dict:
    return _grant(config, stores, authenticate_client(stores, client_id, secret))


def refresh(config: Config, stores: Stores, refresh_token: str) -> dict:
    """Swap a refresh token for a new access and refresh token; each refresh token works once."""
    token_id, _, secret = (refresh_token or "").partition(".")
    stored = stores.refresh_tokens.find(token_id) if token_id and secret else None
    if stored is None or not hmac.compare_digest(stored["sha256"], _digest(secret)):
        raise BadRequestError("invalid_grant: unknown, used or revoked refresh token")
    # Deleting first makes a replayed token lose the race: only one caller gets a new pair.
    if not stores.refresh_tokens.delete(token_id):
        raise BadRequestError("invalid_grant: the refresh token was already used")
    if stored["expires"] < time.time():
        raise BadRequestError("invalid_grant: the refresh token has expired")
    client = stores.clients.find(stored["client_id"])
    if client is None:
        raise BadRequestError("invalid_grant: the client has been deleted")
    return _grant(config, stores, client)
