"""Which query parameters of a message may become environment variables of its execution.

A sender holds EXECUTE on someone else's actor; the variables they pass must not steer
how the owner's container starts. Names that loaders, shells and interpreters read at
start-up (``LD_PRELOAD``, ``PYTHONWARNINGS``, ``BASH_ENV``, ``BROWSER``, ...) could run
the sender's code in the owner's container, so they are refused outright. An actor that
holds something worth stealing (an access token of its owner, secret configs, or
privileges) is stricter still: it takes only the names its ``default_environment``
declares. Configs and the platform's own ``_abaco_*`` variables are applied after the
message's, so a message never replaces them (see ``actors/execution.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from actors.errors import BadRequestError

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names read by the dynamic loader, shells, interpreters and runtimes at start-up.
DENIED = frozenset({
    "BASH_ENV", "ENV", "BROWSER", "PERLLIB", "RUBYOPT", "RUBYLIB", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS", "PATH", "HOME", "SHELL", "IFS", "PS4", "SHELLOPTS", "BASHOPTS", "GCONV_PATH",
    "GLIBC_TUNABLES", "CDPATH", "PROMPT_COMMAND", "EDITOR", "VISUAL", "PAGER", "TMPDIR", "HOSTALIASES",
    "LOCPATH", "NLSPATH", "RESOLV_HOST_CONF", "SSL_CERT_FILE", "SSL_CERT_DIR", "R_PROFILE", "R_PROFILE_USER",
    "R_ENVIRON", "R_ENVIRON_USER", "JULIA_LOAD_PATH", "JULIA_DEPOT_PATH", "GEM_HOME", "GEM_PATH",
    "CLASSPATH", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_EXEC_PATH", "MSG",
})
DENIED_PREFIXES = ("LD_", "PYTHON", "PERL5", "NODE_", "MALLOC_", "DYLD_", "BASH_FUNC_", "_abaco_", "RUBY",
                   "LUA_", "OPENSSL_", "GCONV_")
IGNORED = frozenset({"_abaco_synchronous", "x-nonce", "message"})   # parameters of the request itself


def refusal(name: str) -> str | None:
    """Why ``name`` may never be a message variable, or None."""
    if not NAME.match(name):
        return "not a variable name (letters, digits and '_', not starting with a digit)"
    if name in DENIED or name.upper() in DENIED:
        return "it steers how programs in the container start"
    upper = name.upper()
    if any(upper.startswith(prefix.upper()) for prefix in DENIED_PREFIXES):
        return "it steers how programs in the container start" if not name.startswith("_abaco_") \
            else "the platform's own variables start with _abaco_"
    return None


def is_strict(actor: Mapping, has_secrets: bool) -> bool:
    """Whether only the declared names are taken (the actor holds a token, secrets or privileges)."""
    return bool(actor.get("token") or actor.get("privileged") or has_secrets)


def _reason(name: str, strict: bool, declared: set[str]) -> str | None:
    """Why ``name`` may not be a variable of this actor's message, or None."""
    reason = refusal(name)
    if reason is None and strict and name not in declared:
        reason = ("this actor holds a token, secrets or privileges and takes only the variables its "
                  "default_environment declares")
    return reason


def _declared(actor: Mapping) -> set[str]:
    return set((actor.get("default_environment") or {}).keys())


def accept(params: Iterable[tuple[str, str]], actor: Mapping, has_secrets: Callable[[], bool]) -> dict[str, str]:
    """The message's variables, or a 400 naming every parameter that may not be one.

    ``has_secrets`` is asked only when a variable is given (most messages carry none).
    """
    declared = _declared(actor)
    strict: bool | None = None
    env: dict[str, str] = {}
    refused: list[str] = []
    for name, value in params:
        if name in IGNORED:
            continue
        if strict is None:
            strict = is_strict(actor, has_secrets())
        reason = _reason(name, strict, declared)
        if reason is not None:
            refused.append(f"{name!r} ({reason})")
            continue
        env[name] = value
    if refused:
        raise BadRequestError(f"query parameter(s) that cannot become environment variables: {'; '.join(refused)}")
    return env


def keep(env: Mapping[str, str], actor: Mapping, has_secrets: bool) -> dict[str, str]:
    """What a worker passes on from a queued message's variables (the same rules, never raising)."""
    declared, strict = _declared(actor), is_strict(actor, has_secrets)
    return {k: v for k, v in env.items() if isinstance(v, str) and _reason(k, strict, declared) is None}
