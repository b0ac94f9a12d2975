"""Who is calling, and what they may do with an actor.

Tokens are RS256 JWTs from the platform's own issuer. The signing key pair lives in
``<data_dir>/keys`` (private key mode 0600) and is created on first use, atomically, so
several processes starting at once agree on one key.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from actors import codes
from actors.config import Config
from actors.errors import ForbiddenError, UnauthorizedError

ISSUER = "abaco-local"
ROLES = ("admin", "privileged", "user", "limited")
PRIVATE_KEY = "signing.pem"
PUBLIC_KEY = "signing.pub.pem"


@dataclass(frozen=True)
class Identity:
    """The authenticated caller."""

    user: str
    role: str
    tenant: str = "default"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_privileged(self) -> bool:
        return self.role in ("admin", "privileged")


def ensure_signing_key(config: Config) -> Path:
    """Create the signing key pair if missing; return the private key's path."""
    keys = config.keys_dir
    keys.mkdir(parents=True, exist_ok=True, mode=0o700)
    private = keys / PRIVATE_KEY
    if private.exists():
        return private
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    tmp = keys / f".{PRIVATE_KEY}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    try:
        os.link(tmp, private)          # fails if another process won the race
        (keys / PUBLIC_KEY).write_bytes(pub)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return private


def _private_key(config: Config) -> bytes:
    return ensure_signing_key(config).read_bytes()


def _public_key(config: Config) -> bytes:
    path = config.keys_dir / PUBLIC_KEY
    if not path.exists():
        ensure_signing_key(config)
        if not path.exists():          # the race winner has not written it yet
            time.sleep(0.2)
    return path.read_bytes()


def issue_token(config: Config, user: str, role: str = "user", tenant: str = "default",
                ttl: int | None = None) -> str:
    """Mint a signed token for ``user`` with ``role``."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not user or not user.replace("_", "").replace("-", "").replace(".", "").replace("@", "").isalnum():
        raise ValueError("user must be a non-empty name of letters, digits, '.', '_', '-', '@'")
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": user, "role": role, "tenant": tenant, "iat": now,
              "exp": now + (ttl if ttl is not None else config.web.token_ttl)}
    return jwt.encode(claims, _private_key(config), algorithm="RS256")


class Authenticator:
    """Turns request headers into an Identity; holds the public key once read."""

    def __init__(self, config: Config):
        self.config = config
        self._key: bytes | None = None

    def identify(self, headers) -> Identity:
        header = headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise UnauthorizedError("no credentials: send 'Authorization: Bearer <token>' "
                                    "(mint one with `abaco token --user NAME`)")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthorizedError("the Authorization header must be 'Bearer <token>'")
        if self._key is None:
            self._key = _public_key(self.config)
        try:
            claims = jwt.decode(token.strip(), self._key, algorithms=["RS256"], issuer=ISSUER,
                                options={"require": ["exp", "iat", "sub", "iss"]})
        except jwt.ExpiredSignatureError:
            raise UnauthorizedError("the token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise UnauthorizedError(f"invalid token: {exc}") from None
        role = claims.get("role", "user")
        if role not in ROLES:
            raise UnauthorizedError(f"invalid token: unknown role {role!r}")
        return Identity(user=claims["sub"], role=role, tenant=claims.get("tenant", "default"))


def actor_level(identity: Identity, actor: dict) -> int:
    """The permission level the caller holds on an actor."""
    if identity.tenant != actor.get("tenant", "default"):
        return codes.NONE
    if identity.is_admin or identity.user == actor.get("owner"):
        return codes.UPDATE
    return codes.NONE


def require(identity: Identity, actor: dict, level: int) -> None:
    """Raise ForbiddenError unless the caller holds ``level`` on the actor."""
    if actor_level(identity, actor) < level:
        raise ForbiddenError(f"{identity.user} does not have {codes.level_name(level)} "
                             f"permission on actor {actor['id']}")
