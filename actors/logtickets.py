"""Tickets: the API's short-lived grant to follow one execution's live log.

The API checks the caller exactly as for ``GET .../logs`` (authentication, tenant, READ
on the actor), then redirects ``?follow=true`` to the logstream process with a ticket.
Clients drop their ``Authorization`` header on a redirect to another port, so the ticket
itself carries the grant: who (tenant, user) may follow which execution of which actor,
until when. It is a JWT signed with the platform's own key (actors/auth.py) for the
audience ``abaco-logstream``: the API refuses it as a bearer token (PyJWT rejects a token
with an audience nobody asked for), and logstream refuses it for any other execution or
after ``[logstream] ticket_ttl`` seconds. Its expiry bounds when a stream may start, not
how long it lasts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from actors import auth
from actors.config import Config
from actors.errors import ForbiddenError, UnauthorizedError

AUDIENCE = "abaco-logstream"


@dataclass(frozen=True)
class Grant:
    """What a valid ticket allows."""

    tenant: str
    user: str
    actor_id: str
    execution_id: str


def issue(config: Config, who: auth.Identity, actor_id: str, execution_id: str, ttl: int | None = None) -> str:
    """A ticket for ``who`` to follow this execution, valid to start a stream for ``ttl`` seconds."""
    now = int(time.time())
    claims = {"iss": auth.ISSUER, "aud": AUDIENCE, "sub": who.user, "tenant": who.tenant, "iat": now,
              "exp": now + (config.logstream.ticket_ttl if ttl is None else ttl),
              "actor": actor_id, "execution": execution_id}
    return jwt.encode(claims, auth.private_key(config), algorithm="RS256")


class Verifier:
    """Checks tickets against the platform's public key (loaded once)."""

    def __init__(self, config: Config):
        self.config = config
        self._key: Any = serialization.load_pem_public_key(auth._public_key(config))

    def verify(self, ticket: str, actor_id: str, execution_id: str) -> Grant:
        """The grant of ``ticket`` for this execution; 401 if it is not a valid ticket, 403 if it
        is one for another execution."""
        if not ticket:
            raise UnauthorizedError("no ticket: follow a live log through the API "
                                    "(GET /actors/{id}/executions/{eid}/logs?follow=true), which redirects here")
        try:
            claims = jwt.decode(ticket, self._key, algorithms=["RS256"], issuer=auth.ISSUER, audience=AUDIENCE,
                                options={"require": ["exp", "iat", "sub", "aud", "iss"]})
        except jwt.ExpiredSignatureError:
            raise UnauthorizedError("the ticket has expired; ask the API again") from None
        except jwt.InvalidTokenError as exc:
            raise UnauthorizedError(f"invalid ticket: {exc}") from None
        if claims.get("actor") != actor_id or claims.get("execution") != execution_id:
            raise ForbiddenError("the ticket is for another execution", abaco_status=403)
        return Grant(tenant=str(claims.get("tenant") or "default"), user=str(claims["sub"]),
                     actor_id=actor_id, execution_id=execution_id)
