"""The dashboard's only way to the platform: HTTP calls to its API with the user's token.

``Api.call`` returns the envelope's ``result`` and turns every failure into one of three
exceptions the pages handle in one place (dashboard/middleware.py):

- ``SignedOut``: the API said 401 (the token expired, was revoked, or its client deleted);
- ``ApiUnavailable``: no answer (refused, timed out) or a 502/503/504;
- ``ApiError``: any other refusal, with the API's status and message (shown next to the
  form field it names, or at the top of the page).
"""

from __future__ import annotations

import re
import threading
from typing import Any

import requests

_local = threading.local()
MAX_REDIRECTS = 3


class ApiUnavailable(Exception):
    """The API did not answer, or answered that it cannot serve now."""


class SignedOut(Exception):
    """The API refused the token (401): the user has to sign in again."""


class ApiError(Exception):
    """The API refused the request; ``message`` is its own explanation."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status, self.message = status, message

    def field(self, names) -> str | None:
        """The first of ``names`` the message quotes ('image', 'max_workers', ...), if any."""
        quoted = set(re.findall(r"'([A-Za-z_]+)'", self.message))
        for name in names:
            camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)
            if name in quoted or camel in quoted:
                return name
        return None


def _session() -> requests.Session:
    """One keep-alive HTTP session per thread."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def message_of(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:500] or resp.reason
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return resp.text[:500]


class Api:
    """Calls to ``base`` with ``Authorization: Bearer <token>`` (no header without a token)."""

    def __init__(self, base: str, token: str | None, timeout: float):
        self.base, self.token, self.timeout = base.rstrip("/"), token, timeout

    def headers(self, extra: dict | None = None) -> dict:
        out = dict(extra or {})
        if self.token:
            out["Authorization"] = f"Bearer {self.token}"
        return out

    def request(self, method: str, path: str, *, stream: bool = False, timeout: float | None = None,
                headers: dict | None = None, **kw) -> requests.Response:
        """The raw answer; redirects are followed here with the token kept (at most 3)."""
        url = path if path.startswith("http") else self.base + path
        try:
            for _ in range(MAX_REDIRECTS + 1):
                resp = _session().request(method, url, headers=self.headers(headers), stream=stream,
                                          timeout=timeout or self.timeout, allow_redirects=False, **kw)
                if resp.status_code in (301, 302, 303, 307, 308) and resp.headers.get("Location"):
                    url = requests.compat.urljoin(url, resp.headers["Location"])
                    kw["params"] = None            # the Location is the whole URL to follow
                    if resp.status_code == 303:
                        method = "GET"
                    resp.close()
                    continue
                break
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise ApiUnavailable(f"the API at {self.base} does not answer ({type(exc).__name__})") from None
        if resp.status_code in (502, 503, 504):
            raise ApiUnavailable(f"the API answered {resp.status_code}: {message_of(resp)}")
        if resp.status_code == 401:
            raise SignedOut(message_of(resp))
        return resp

    def call(self, method: str, path: str, **kw) -> Any:
        """The ``result`` of a successful answer; ApiError (or the two others) otherwise."""
        resp = self.request(method, path, **kw)
        if resp.status_code != 200:
            raise ApiError(resp.status_code, message_of(resp))
        try:
            return resp.json().get("result")
        except ValueError:
            raise ApiError(resp.status_code, "the API's answer was not JSON") from None

    def get(self, path: str, **params) -> Any:
        return self.call("GET", path, params={k: v for k, v in params.items() if v not in (None, "")})

    def maybe(self, path: str, **params) -> tuple[Any, str | None]:
        """``(result, None)``, or ``(None, the API's message)`` when it refuses (not for outages)."""
        try:
            return self.get(path, **params), None
        except ApiError as exc:
            return None, exc.message
