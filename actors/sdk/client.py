"""A small Python client for the actor API (used by the ``abaco`` command).

The API wraps every answer in ``{"status", "message", "result", "version"}``; the client
returns ``result`` and turns an error answer into :class:`ClientError`, so callers deal
with data, not with HTTP. Two answers are raw bytes instead of the envelope: a result
(``.../results``) and a synchronous message reply.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping
from urllib.parse import quote

import requests

TERMINAL_STATUSES = ("COMPLETE", "ERROR")
TRANSIENT_STATUSES = (0, 502, 503, 504)   # no answer, or a backing service briefly down
_UNSET: Any = object()       # lets a JSON message be null


class ClientError(Exception):
    """The API refused a request (status is 0 when it could not be reached at all)."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{message} (HTTP {status})" if status else message)
        self.status = status
        self.message = message


@dataclass
class SyncReply:
    """The answer to a synchronous message: the first result, or the logs, as bytes.

    ``finished`` is False when the execution outlived the server's wait; ``body`` is
    then empty and ``execution_id``/``status`` say where to look later.
    """

    body: bytes
    content_type: str
    execution_id: str | None
    status: str | None
    finished: bool = True
    envelope: dict = field(default_factory=dict)


def get_field(doc: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """``doc[name]`` for a snake_case name, also found under its camelCase spelling."""
    if name in doc:
        return doc[name]
    head, *rest = name.split("_")
    camel = head + "".join(part[:1].upper() + part[1:] for part in rest)
    return doc.get(camel, default)


def _quote(part: str) -> str:
    return quote(str(part), safe="")


class Client:
    """The actor API at ``base_url``, called with a bearer ``token``."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 60.0,
                 session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.session = session or requests.Session()

    # ------------------------------------------------------------ plumbing

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send one request; a ClientError with status 0 when the API cannot be reached."""
        headers = dict(kwargs.pop("headers", None) or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        kwargs.setdefault("timeout", self.timeout)
        try:
            return self.session.request(method, self.base_url + path, headers=headers, **kwargs)
        except requests.RequestException as exc:
            raise ClientError(0, f"cannot reach the API at {self.base_url}: {exc}") from None

    @staticmethod
    def _error(response: requests.Response) -> ClientError:
        try:
            doc = response.json()
            message = doc.get("message") if isinstance(doc, dict) else None
        except ValueError:
            message = None
        if not message:
            message = response.text.strip()[:500] or response.reason or "no message"
        return ClientError(response.status_code, str(message))

    def unwrap(self, response: requests.Response) -> Any:
        """The envelope's ``result``; ClientError for an error status or a non-envelope body."""
        if response.status_code >= 400:
            raise self._error(response)
        try:
            doc = response.json()
        except ValueError:
            raise ClientError(response.status_code,
                              f"the API answered with something other than JSON: "
                              f"{response.text.strip()[:200]!r}") from None
        if not isinstance(doc, dict) or "result" not in doc:
            raise ClientError(response.status_code, "the API answer is not an Abaco envelope "
                                                    "(no 'result' field)")
        if doc.get("status") == "error":
            raise ClientError(response.status_code, str(doc.get("message") or "error"))
        return doc["result"]

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.unwrap(self.request(method, path, **kwargs))

    # ------------------------------------------------------------ actors

    def list_actors(self) -> list:
        return self.call("GET", "/actors")

    def create_actor(self, image: str, **fields: Any) -> dict:
        """Register an actor; ``fields`` are API fields (name, stateless, max_workers...)."""
        body = {"image": image, **{k: v for k, v in fields.items() if v is not None}}
        return self.call("POST", "/actors", json=body)

    def get_actor(self, actor_id: str) -> dict:
        return self.call("GET", f"/actors/{_quote(actor_id)}")

    def update_actor(self, actor_id: str, image: str, force: bool = False, **fields: Any) -> dict:
        body = {"image": image, **{k: v for k, v in fields.items() if v is not None}}
        if force:
            body["force"] = True
        return self.call("PUT", f"/actors/{_quote(actor_id)}", json=body)

    def delete_actor(self, actor_id: str) -> Any:
        return self.call("DELETE", f"/actors/{_quote(actor_id)}")

    # ------------------------------------------------------------ messages

    def _message_request(self, message: str | None, json_message: Any, binary: bytes | None,
                         env: Mapping[str, str] | None, synchronous: bool) -> dict:
        given = (message is not None) + (json_message is not _UNSET) + (binary is not None)
        if given != 1:
            raise ValueError("give exactly one of a string message, a JSON message or binary data")
        params = dict(env or {})
        if synchronous:
            params["_abaco_synchronous"] = "true"
        kwargs: dict[str, Any] = {"params": params}
        if message is not None:
            kwargs["data"] = {"message": message}
        elif binary is not None:
            kwargs["data"] = binary
            kwargs["headers"] = {"Content-Type": "application/octet-stream"}
        else:
            kwargs["data"] = json.dumps(json_message)
            kwargs["headers"] = {"Content-Type": "application/json"}
        return kwargs

    def send_message(self, actor_id: str, message: str | None = None, *, json_message: Any = _UNSET,
                     binary: bytes | None = None, env: Mapping[str, str] | None = None) -> dict:
        """Queue one execution; the result holds its ``execution_id``."""
        kwargs = self._message_request(message, json_message, binary, env, False)
        return self.call("POST", f"/actors/{_quote(actor_id)}/messages", **kwargs)

    def send_sync(self, actor_id: str, message: str | None = None, *, json_message: Any = _UNSET,
                  binary: bytes | None = None, env: Mapping[str, str] | None = None,
                  timeout: float | None = None) -> SyncReply:
        """Send a message and wait for the execution; return its first result or its logs."""
        kwargs = self._message_request(message, json_message, binary, env, True)
        if timeout is not None:
            kwargs["timeout"] = timeout
        response = self.request("POST", f"/actors/{_quote(actor_id)}/messages", **kwargs)
        if response.status_code >= 400:
            raise self._error(response)
        content_type = response.headers.get("Content-Type", "")
        execution_id = response.headers.get("X-Abaco-Execution-Id")
        status = response.headers.get("X-Abaco-Execution-Status")
        if content_type.startswith("application/json"):
            try:
                doc = response.json()
            except ValueError:
                doc = None
            if isinstance(doc, dict) and {"status", "result"} <= set(doc):
                result = doc.get("result") or {}
                return SyncReply(b"", content_type,
                                 get_field(result, "execution_id", execution_id),
                                 result.get("status", status), finished=False, envelope=doc)
        return SyncReply(response.content, content_type, execution_id, status)

    def queue_length(self, actor_id: str) -> int:
        return self.call("GET", f"/actors/{_quote(actor_id)}/messages").get("messages", 0)

    # ------------------------------------------------------------ executions

    def list_executions(self, actor_id: str) -> dict:
        return self.call("GET", f"/actors/{_quote(actor_id)}/executions")

    def get_execution(self, actor_id: str, execution_id: str) -> dict:
        return self.call("GET", f"/actors/{_quote(actor_id)}/executions/{_quote(execution_id)}")

    def force_quit(self, actor_id: str, execution_id: str) -> dict:
        return self.call("DELETE", f"/actors/{_quote(actor_id)}/executions/{_quote(execution_id)}")

    def follow_logs(self, actor_id: str, execution_id: str, tail: int | None = None,
                    reconnects: int = 5) -> Iterator[tuple[str, Any]]:
        """An execution's log as it is written: ``("text", str)`` pieces, then ``("end", {"status",
        "exitCode"})``. The API redirects to the live log stream (server-sent events); a dropped
        connection is resumed after the last event received (``Last-Event-ID``), up to ``reconnects``
        times in a row."""
        from actors.livelog import SseParser
        last_id: str | None = None
        failures = 0
        path = f"/actors/{_quote(actor_id)}/executions/{_quote(execution_id)}/logs"
        while True:
            params: dict[str, Any] = {"follow": "true"}
            headers = {"Accept": "text/event-stream"}
            if last_id is not None:
                headers["Last-Event-ID"] = last_id
            elif tail is not None:
                params["tail"] = tail
            try:
                response = self.request("GET", path, params=params, headers=headers, stream=True,
                                        timeout=(10, max(self.timeout, 60)))
                if response.status_code >= 400:
                    raise self._error(response)
                parser = SseParser()
                with response:
                    for data in response.iter_content(chunk_size=None):
                        failures = 0
                        for event_id, event, text in parser.feed(data):
                            if event == "end":
                                yield "end", json.loads(text)
                                return
                            last_id = event_id or last_id
                            yield "text", text
            except (requests.RequestException, ClientError) as exc:
                if isinstance(exc, ClientError) and exc.status:
                    raise
                failures += 1
                if failures > reconnects:
                    raise ClientError(0, f"the live log of {execution_id} broke off: {exc}") from None
                time.sleep(min(5.0, 0.5 * failures))
                continue
            failures += 1                  # the stream closed without its end event
            if failures > reconnects:
                raise ClientError(0, f"the live log of {execution_id} closed before the execution ended")
            time.sleep(min(5.0, 0.5 * failures))

    def get_logs(self, actor_id: str, execution_id: str) -> str:
        result = self.call("GET", f"/actors/{_quote(actor_id)}/executions/{_quote(execution_id)}/logs")
        return (result or {}).get("logs") or ""

    def get_result(self, actor_id: str, execution_id: str) -> bytes:
        """The next result the execution sent (the API hands each out once); b"" when none."""
        response = self.request("GET", f"/actors/{_quote(actor_id)}/executions/{_quote(execution_id)}/results")
        if response.status_code >= 400:
            raise self._error(response)
        return response.content

    def _poll(self, read, done, timeout: float, interval: float, what: str) -> dict:
        """Call ``read`` until ``done(doc)``; an API that cannot be reached, or answers 503,
        counts as "not yet" until the one deadline; TimeoutError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            try:
                doc = read()
                if done(doc):
                    return doc
                last = doc.get("status")
            except ClientError as exc:
                if exc.status not in TRANSIENT_STATUSES:
                    raise
                last = exc
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{what} is still {last} after {timeout:g} s")
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))

    def wait_execution(self, actor_id: str, execution_id: str, timeout: float = 300.0,
                       interval: float = 1.0) -> dict:
        """Poll until the execution is COMPLETE or ERROR; TimeoutError after ``timeout`` s."""
        return self._poll(lambda: self.get_execution(actor_id, execution_id),
                          lambda e: e.get("status") in TERMINAL_STATUSES, timeout, interval,
                          f"execution {execution_id}")

    def wait_ready(self, actor_id: str, timeout: float = 120.0, interval: float = 0.3) -> dict:
        """Poll until the actor is READY; ClientError if it goes to ERROR, TimeoutError after ``timeout`` s."""
        def ready(actor: dict) -> bool:
            if actor.get("status") == "ERROR":
                raise ClientError(400, f"actor {actor_id} went to ERROR: {actor.get('status_message')}")
            return actor.get("status") == "READY"
        return self._poll(lambda: self.get_actor(actor_id), ready, timeout, interval, f"actor {actor_id}")

    # ------------------------------------------------------------ workers and state

    def list_workers(self, actor_id: str) -> list:
        return self.call("GET", f"/actors/{_quote(actor_id)}/workers")

    def add_workers(self, actor_id: str, num: int = 1) -> dict:
        return self.call("POST", f"/actors/{_quote(actor_id)}/workers", json={"num": num})

    def get_state(self, actor_id: str) -> Any:
        return (self.call("GET", f"/actors/{_quote(actor_id)}/state") or {}).get("state")

    def set_state(self, actor_id: str, state: Any) -> Any:
        return (self.call("POST", f"/actors/{_quote(actor_id)}/state", data=json.dumps(state),
                          headers={"Content-Type": "application/json"}) or {}).get("state")
