"""Who is calling, and what they may do with an actor.

Tokens are RS256 JWTs from the platform's own issuer. The signing key pair lives in
``<data_dir>/keys`` (private key mode 0600) and is created on first use, atomically, so
several processes starting at once agree on one key.
"""

from __future__ import annotations

import hmac
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from actors.codes import EXECUTION_TERMINAL, PRIVILEGED_ROLES, Level, Role
from actors.config import Config, ConfigError
from actors.errors import UnauthorizedError
from actors.tls_proxy import proxy_secret

ISSUER = "abaco-local"
EXECUTION_CLAIM = "abaco_execution"   # {"actor": id, "execution": id}: an execution's own token
ROLES = tuple(Role)
VERIFIED_CACHE = 4096          # verified tokens remembered per process
PRIVATE_KEY = "signing.pem"
PUBLIC_KEY = "signing.pub.pem"


@dataclass(frozen=True)
class Identity:
    """The authenticated caller."""

    user: str
    role: str
    tenant: str = "default"
    nonce: tuple | None = None     # (kind, object id, level, nonce id) when a nonce stands in for a token
    execution: tuple | None = None  # (actor id, execution id) for an execution's own token

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_privileged(self) -> bool:
        return self.role in PRIVILEGED_ROLES

    def nonce_level_on(self, kind: str, obj: dict) -> int:
        """The level a nonce gives on ``obj``: its own, on its own actor or alias only."""
        if self.nonce is None:
            return Level.NONE
        nonce_kind, obj_id, level, _ = self.nonce
        return level if kind == nonce_kind and obj_id in (obj.get("id"), obj.get("alias")) else Level.NONE


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


_LOADED_KEYS: dict[tuple[str, int, int], Any] = {}
_LOADED_LOCK = threading.Lock()


def private_key(config: Config) -> Any:
    """The signing key, parsed once per file (parsing and checking an RSA key takes milliseconds,
    hundreds on a busy machine: every execution's token would pay it)."""
    path = ensure_signing_key(config)
    st = path.stat()
    ident = (str(path), st.st_ino, st.st_mtime_ns)
    with _LOADED_LOCK:
        key = _LOADED_KEYS.get(ident)
        if key is None:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            _LOADED_KEYS.clear()
            _LOADED_KEYS[ident] = key
        return key


def _public_key(config: Config) -> bytes:
    path = config.keys_dir / PUBLIC_KEY
    if not path.exists():
        ensure_signing_key(config)
        if not path.exists():          # the race winner has not written it yet
            time.sleep(0.2)
    return path.read_bytes()


def issue_token(config: Config, user: str, role: str = "user", tenant: str = "default",
                ttl: int | None = None, client_id: str | None = None,
                execution: tuple[str, str] | None = None) -> str:
    """Mint a signed token for ``user`` with ``role`` (on behalf of an OAuth client if given).

    With ``execution`` (actor id, execution id) the token is that execution's own: it acts
    only on its actor (see ``EXECUTION_CLAIM``) and stops working when the execution ends.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not user or not user.replace("_", "").replace("-", "").replace(".", "").replace("@", "").isalnum():
        raise ValueError("user must be a non-empty name of letters, digits, '.', '_', '-', '@'")
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": user, "role": role, "tenant": tenant, "iat": now,
              "exp": now + (ttl if ttl is not None else config.web.token_ttl)}
    if client_id:
        claims["client_id"] = client_id
    if execution:
        claims[EXECUTION_CLAIM] = {"actor": execution[0], "execution": execution[1]}
    return jwt.encode(claims, private_key(config), algorithm="RS256")


MODES = ("jwt", "jwt_header", "mtls", "none")
PROXY_SECRET_HEADER = "X-Abaco-Proxy-Secret"
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def no_credentials(detail: str) -> UnauthorizedError:
    """A request with no credentials at all: Abaco's words, and its 400 in compat = abaco."""
    return UnauthorizedError(f"No JWT or nonce provided. {detail}", abaco_status=400)


class Authenticator:
    """Turns a request's headers (and peer address) into an Identity, per ``[web] access_control``.

    - ``jwt``: ``Authorization: Bearer <token>`` signed by the platform's own key; tokens
      minted for an OAuth client (``client_id`` claim) stop working once it is deleted.
    - ``jwt_header``: an API gateway's JWT in the header ``<prefix><TENANT>``, verified with
      the configured public key; user, roles and tenant come from it.
    - ``mtls``: nginx verified a client certificate and passes the subject's CN; believed
      only from ``[auth] trusted_proxies``.
    - ``none``: everyone is ``[auth] dev_user``; refused unless the API binds to loopback.
    """

    def __init__(self, config: Config, stores=None):
        self.config = config
        self.stores = stores
        self.mode = config.web.access_control
        if self.mode not in MODES:
            raise ConfigError(f"[web] access_control must be one of {', '.join(MODES)}; got {self.mode!r}")
        if self.mode == "none" and config.web.host not in LOOPBACK_HOSTS:
            raise ConfigError("[web] access_control = none is for local development only; it is refused "
                              f"while the API binds to {config.web.host} (use 127.0.0.1)")
        self._key: Any = None                    # the platform's public key, loaded once
        self._verified: OrderedDict[str, dict] = OrderedDict()
        self._verified_lock = threading.Lock()
        self._gateway_key: bytes | None = None
        self._tenant_keys: dict[str, bytes] = {}
        self._proxy_secret = ""
        if self.mode == "mtls":
            self._proxy_secret = proxy_secret(config)
        if self.mode == "jwt_header":
            path = config.auth.jwt_header_public_key
            self._tenant_keys = self._read_tenant_keys(config)
            if path and Path(path).is_file():
                self._gateway_key = Path(path).read_bytes()
            elif path or not self._tenant_keys:
                raise ConfigError("[web] access_control = jwt_header needs [auth] jwt_header_public_key (a PEM "
                                  f"file; got {path!r}) or a key per tenant in [auth] jwt_header_public_keys")

    @staticmethod
    def _read_tenant_keys(config: Config) -> dict[str, bytes]:
        """``[auth] jwt_header_public_keys``: tenant=PEM file entries, a key per tenant."""
        keys = {}
        for entry in config.auth.jwt_header_public_keys:
            tenant, sep, path = entry.partition("=")
            if not sep or not Path(path.strip()).is_file():
                raise ConfigError(f"[auth] jwt_header_public_keys entry {entry!r} is not tenant=/path/to/key.pem")
            keys[tenant.strip().lower()] = Path(path.strip()).read_bytes()
        return keys

    def identify(self, headers, remote_addr: str | None = None) -> Identity:
        if self.mode == "jwt_header":
            return self._gateway(headers)
        if self.mode == "mtls":
            return self._certificate(headers, remote_addr)
        if self.mode == "none":
            return Identity(user=self.config.auth.dev_user, role=self.config.auth.dev_role)
        return self._bearer(headers)

    def _bearer(self, headers) -> Identity:
        header = headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise no_credentials("The request has no credentials: send 'Authorization: Bearer <token>' "
                                 "(mint one with `abaco token --user NAME`).")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthorizedError("the Authorization header must be 'Bearer <token>'")
        claims = self.verify(token.strip())
        if claims.get("client_id") and self.stores is not None and \
                self.stores.clients.find(claims["client_id"]) is None:
            raise UnauthorizedError("the token's OAuth client has been deleted; the token is revoked")
        scope = claims.get(EXECUTION_CLAIM)
        execution = None
        if scope is not None:
            if not isinstance(scope, dict) or not scope.get("actor") or not scope.get("execution"):
                raise UnauthorizedError("invalid token: a malformed execution scope")
            execution = (str(scope["actor"]), str(scope["execution"]))
            if self.stores is not None:
                record = self.stores.executions.find(execution[1])
                if record is None or record.get("status") in EXECUTION_TERMINAL:
                    raise UnauthorizedError("the execution this token was made for has ended; the token is revoked")
        return Identity(user=claims["sub"], role=claims["role"], tenant=claims.get("tenant", "default"),
                        execution=execution)

    def execution_identity(self, headers) -> Identity:
        """The caller on the API socket mounted into containers: only an execution's own token
        is accepted there, whatever the access mode."""
        who = self._bearer(headers)
        if who.execution is None:
            raise UnauthorizedError("the API socket inside containers accepts only the execution's own token "
                                    "(_abaco_access_token or _abaco_execution_token)")
        return who

    def verify(self, token: str) -> dict:
        """The claims of a token from the platform's own issuer; 401 when it is not one.

        A token verified once is remembered (bounded, until it expires): checking an RSA
        signature is the dearest step of most requests, and a token's claims cannot change.
        """
        now = time.time()
        with self._verified_lock:
            cached = self._verified.get(token)
            if cached is not None and cached["exp"] > now:
                self._verified.move_to_end(token)
                return cached
        if self._key is None:
            self._key = serialization.load_pem_public_key(_public_key(self.config))
        try:
            claims = jwt.decode(token, self._key, algorithms=["RS256"], issuer=ISSUER,
                                options={"require": ["exp", "iat", "sub", "iss"]})
        except jwt.ExpiredSignatureError:
            raise UnauthorizedError("the token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise UnauthorizedError(f"invalid token: {exc}") from None
        claims.setdefault("role", "user")
        if claims["role"] not in ROLES:
            raise UnauthorizedError(f"invalid token: unknown role {claims['role']!r}")
        with self._verified_lock:
            self._verified[token] = claims
            while len(self._verified) > VERIFIED_CACHE:
                self._verified.popitem(last=False)
        return claims

    def _gateway(self, headers) -> Identity:
        a = self.config.auth
        prefix = a.jwt_header_prefix.lower()
        found = [(name, value) for name, value in headers.items() if name.lower().startswith(prefix)]
        if not found:
            raise no_credentials(f"The request has no credentials: the gateway's JWT is expected in a header "
                                 f"{a.jwt_header_prefix}<TENANT>.")
        if len(found) > 1:
            raise UnauthorizedError(f"more than one {a.jwt_header_prefix}<TENANT> header")
        name, token = found[0]
        named = name[len(prefix):].lower()
        tenant = next((t for t in a.tenants if t.lower() == named), None)
        if tenant is None:
            raise UnauthorizedError(f"unknown tenant {name[len(prefix):]!r} in header {name}")
        algorithms = [alg for alg in a.jwt_header_algorithms if alg.lower() != "none"]
        tenant_key = self._tenant_keys.get(tenant.lower())
        if tenant_key is None and self._gateway_key is None:
            raise UnauthorizedError(f"no gateway key is configured for tenant {tenant!r}")
        try:
            claims = jwt.decode(token.strip(), tenant_key or self._gateway_key or b"", algorithms=algorithms,
                                options={"require": ["exp"], "verify_aud": False})
        except jwt.ExpiredSignatureError:
            raise UnauthorizedError("the gateway's JWT has expired") from None
        except jwt.InvalidTokenError as exc:
            raise UnauthorizedError(f"invalid gateway JWT: {exc}") from None
        if tenant_key is None:
            # One key for all tenants: the token itself must name the tenant of the header.
            claimed = str(claims.get(a.jwt_header_tenant_claim) or "")
            if claimed.lower() != tenant.lower():
                raise UnauthorizedError(f"the gateway's JWT is for tenant {claimed or '(none)'!r}, not "
                                        f"{tenant!r} (claim {a.jwt_header_tenant_claim})")
        user = gateway_user(str(claims.get(a.jwt_header_user_claim) or ""), a.jwt_header_strip_domains)
        if not user:
            raise UnauthorizedError(f"the gateway's JWT has no user in claim {a.jwt_header_user_claim}")
        roles = claims.get(a.jwt_header_roles_claim) or []
        if isinstance(roles, str):
            roles = [r.strip() for r in roles.split(",")]
        return Identity(user=user, role=self._role(set(roles)), tenant=tenant)

    def _role(self, roles: set[str]) -> str:
        a = self.config.auth
        if roles & set(a.admin_roles):
            return "admin"
        if roles & set(a.privileged_roles):
            return "privileged"
        if roles & set(a.limited_roles):
            return "limited"
        return "user"

    def _certificate(self, headers, remote_addr: str | None) -> Identity:
        a = self.config.auth
        if remote_addr not in a.trusted_proxies or not hmac.compare_digest(
                headers.get(PROXY_SECRET_HEADER, ""), self._proxy_secret):
            raise UnauthorizedError("client certificates are accepted only through the platform's TLS proxy")
        if headers.get(a.mtls_verify_header, "") != "SUCCESS":
            raise no_credentials("The request has no credentials: no verified client certificate.")
        cn = common_name(headers.get(a.mtls_dn_header, ""))
        if not cn:
            raise UnauthorizedError("the client certificate has no Common Name")
        role = "admin" if cn in a.mtls_admins else "privileged" if cn in a.mtls_privileged else "user"
        return Identity(user=cn, role=role)


def gateway_user(claimed: str, strip_domains: tuple[str, ...]) -> str:
    """The user a gateway's claim names: ``PRIMARY/alice`` is alice; a domain is kept
    (``carol@sd2e.org`` and ``carol@tacc.org`` are two users) unless it is one of
    ``strip_domains`` (Abaco's ``carbon.super``: ``carol@carbon.super`` is carol)."""
    user = claimed.strip()
    if "/" in user:
        user = user.rsplit("/", 1)[1]
    name, at, domain = user.rpartition("@")
    if at and domain.lower() in {d.lower() for d in strip_domains}:
        user = name
    return user


def common_name(dn: str) -> str:
    """The CN of a subject DN as nginx writes it (RFC 2253: ``CN=alice,O=Lab``, ``\\,`` escaped)."""
    parts, current, escaped = [], "", False
    for ch in dn:
        if escaped:
            current += ch
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",+":
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    for part in parts:
        key, _, value = part.strip().partition("=")
        if key.strip().upper() == "CN":
            return value.strip()
    return ""
