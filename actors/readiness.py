"""Waiting for something to be ready: one deadline, and "refused" and "timed out" alike mean "not yet".

A service that is still starting may refuse connections, accept them and answer late
(a cold start compiles bytecode, imports, connects its stores), or answer with an error
for a moment. Every wait in the project (the test fixtures, the demo, the benchmarks)
goes through :func:`wait_until`: the probe's network errors count as "not yet", the
whole wait has one deadline, and a wait that fails says what it waited for, the last
thing the probe saw, and the tail of the component's log.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterable, TypeVar

import requests

T = TypeVar("T")

# What a probe may raise while the thing it probes is still starting.
NOT_YET: tuple[type[BaseException], ...] = (requests.RequestException, OSError)


class NotReady(AssertionError):
    """The deadline passed (or the process died) before the probe succeeded."""


def log_tail(path: Path | str | None, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ('' if there is none)."""
    if not path:
        return ""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_until(probe: Callable[[], T], timeout: float, what: str, *, interval: float = 0.2,
               logs: Iterable[Path | str] = (), alive: Callable[[], bool] | None = None,
               not_yet: tuple[type[BaseException], ...] = NOT_YET) -> T:
    """Call ``probe`` until it returns something true, and return that.

    Exceptions in ``not_yet`` (connection refused, read timeouts, ...) count as "not yet".
    Raises NotReady after ``timeout`` seconds, or at once when ``alive()`` says the
    process being waited for has exited; the message carries the tails of ``logs``.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = probe()
            if result:
                return result
            last = result
        except not_yet as exc:
            last = exc
        if alive is not None and not alive():
            raise NotReady(_explain(f"{what}: the process exited", last, logs))
        left = deadline - time.monotonic()
        if left <= 0:
            raise NotReady(_explain(f"timed out after {timeout:g} s waiting for {what}", last, logs))
        time.sleep(min(interval, left))


def _explain(head: str, last: object, logs: Iterable[Path | str]) -> str:
    parts = [f"{head}; last probe: {last!r}"]
    for path in logs:
        tail = log_tail(path)
        if tail:
            parts.append(f"--- last lines of {path}:\n{tail}")
    return "\n".join(parts)


def http_status(url: str, timeout: float = 5.0, **kwargs) -> int | None:
    """The status code of a GET, or None when there was no answer (refused, timed out)."""
    try:
        return requests.get(url, timeout=timeout, **kwargs).status_code
    except requests.RequestException:
        return None


def api_answers(url: str, timeout: float = 5.0) -> bool:
    """The platform's API answers: ``GET /actors`` is 200 (no auth) or asks for credentials
    (401, or Abaco's 400 "No JWT or nonce provided." in ``[web] compat = abaco``)."""
    return http_status(url.rstrip("/") + "/actors", timeout) in (200, 400, 401)
