"""What an actor running inside a container uses to talk to the platform.

Standard library only: this module is copied into actor images (see images/), where
the platform's own dependencies are not installed. It reads the environment the worker
sets (the Abaco actor contract), reads a binary message from the FIFO the worker feeds,
sends results as datagrams to the worker's Unix socket, and updates the actor's state
through the API (over the API's Unix socket when mounted, since containers usually
have no network).

The paths are module-level so tests (or unusual deployments) can point them elsewhere.
"""

from __future__ import annotations

import ast
import errno
import http.client
import json
import os
import pickle
import socket
import urllib.parse
from typing import Any

BINARY_DATA_PATH = "/_abaco_binary_data"
RESULTS_SOCKET_PATH = "/_abaco_results.sock"
API_SOCKET_PATH = "/_abaco_api.sock"
HTTP_TIMEOUT = 30.0

__all__ = ["AttrDict", "SDKError", "APIError", "get_context", "get_binary_message",
           "send_bytes_result", "send_python_result", "update_state",
           "BINARY_DATA_PATH", "RESULTS_SOCKET_PATH", "API_SOCKET_PATH"]


class SDKError(RuntimeError):
    """Something the actor asked for cannot be done in this execution."""


class APIError(SDKError):
    """The API answered a request with an error status."""

    def __init__(self, status: int, message: str):
        super().__init__(f"the API answered {status}: {message}")
        self.status = status
        self.message = message


class AttrDict(dict):
    """A dict whose keys also read as attributes (``ctx.actor_id``), as Abaco actors expect."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None


def _parse_state(raw: str) -> Any:
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return raw          # not JSON: hand it over as is rather than fail the actor


def content_type() -> str:
    """The message's content type (Abaco names it ``_abaco_Content-Type``; we set both)."""
    env = os.environ
    return env.get("_abaco_Content_Type") or env.get("_abaco_Content-Type") or "str"


def parse_json_message(env: Any) -> Any:
    """A JSON message's value: from its own text in ``_abaco_message_json`` when the worker
    gave it, else ``MSG`` read as JSON, else ``MSG`` as Abaco sets it (Python's ``str()``
    of the value, read back with ``ast.literal_eval``); {} when none of them parses."""
    text = env.get("_abaco_message_json")
    if text:
        try:
            return json.loads(text)
        except ValueError:
            pass
    raw = env.get("MSG", "")
    try:
        return json.loads(raw)
    except ValueError:
        pass
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return {}


def get_context() -> AttrDict:
    """The execution's context, read from the environment the worker set."""
    env = os.environ
    raw = env.get("MSG", "")
    kind = content_type()
    message_dict: Any = parse_json_message(env) if kind == "application/json" else {}
    return AttrDict(
        raw_message=raw,
        content_type=kind,
        message_dict=message_dict,
        execution_id=env.get("_abaco_execution_id", ""),
        username=env.get("_abaco_username", ""),
        state=_parse_state(env.get("_abaco_actor_state", "")),
        actor_id=env.get("_abaco_actor_id", ""),
        actor_dbid=env.get("_abaco_actor_dbid", ""),
        actor_name=env.get("_abaco_actor_name", ""),
        worker_id=env.get("_abaco_worker_id", ""),
        actor_repo=env.get("_abaco_container_repo", ""),
        api_server=env.get("_abaco_api_server", ""),
        access_token=env.get("_abaco_access_token", ""),
        execution_token=env.get("_abaco_execution_token", ""),
        jwt_header_name=env.get("_abaco_jwt_header_name", "Authorization"),
        environment=dict(env),
    )


def get_binary_message() -> bytes:
    """All bytes of a binary message (read from the FIFO to its end)."""
    if not os.path.exists(BINARY_DATA_PATH):
        kind = content_type()
        raise SDKError(f"no binary message: {BINARY_DATA_PATH} does not exist (this execution's "
                       f"message has content type {kind!r}; read it with get_context().raw_message)")
    with open(BINARY_DATA_PATH, "rb") as fifo:
        return fifo.read()


def send_bytes_result(data: bytes) -> None:
    """Send one result (one datagram) to the worker, which stores it for .../results."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"a result must be bytes, not {type(data).__name__}; "
                        f"use send_python_result for other objects")
    if not os.path.exists(RESULTS_SOCKET_PATH):
        raise SDKError(f"cannot send a result: the results socket {RESULTS_SOCKET_PATH} does not exist "
                       f"(is this running under an Abaco worker?)")
    data = bytes(data)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:   # a datagram must fit the send buffer; ask for room (the kernel caps it at wmem_max)
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) < len(data) + 4096:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, len(data) + 4096)
        except OSError:
            pass
        try:
            sock.sendto(data, RESULTS_SOCKET_PATH)
        except OSError as exc:
            if exc.errno == errno.EMSGSIZE:
                raise SDKError(f"the result of {len(data)} bytes is too large for one datagram; "
                               f"send smaller pieces") from None
            if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
                raise SDKError(f"cannot send a result: nobody is listening on {RESULTS_SOCKET_PATH}") from None
            raise SDKError(f"cannot send a result to {RESULTS_SOCKET_PATH}: {exc}") from None


def send_python_result(obj: Any) -> None:
    """Pickle ``obj`` and send it as one result: with cloudpickle when the image has it (as
    Abaco's agavepy does, so functions and lambdas travel too), else with pickle."""
    try:
        import cloudpickle
    except ImportError:
        send_bytes_result(pickle.dumps(obj))
        return
    send_bytes_result(cloudpickle.dumps(obj))


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a Unix stream socket (the API's socket mounted into the container)."""

    def __init__(self, path: str, timeout: float = HTTP_TIMEOUT):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.unix_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _connection(api_server: str) -> tuple[http.client.HTTPConnection, str]:
    """A connection to the API and the path prefix to put before API paths."""
    if os.path.exists(API_SOCKET_PATH):
        return _UnixHTTPConnection(API_SOCKET_PATH), ""
    if not api_server:
        raise SDKError(f"cannot reach the API: {API_SOCKET_PATH} is not mounted and "
                       f"_abaco_api_server is not set")
    url = urllib.parse.urlsplit(api_server)
    if url.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(url.netloc, timeout=HTTP_TIMEOUT)
    elif url.scheme == "http":
        conn = http.client.HTTPConnection(url.netloc, timeout=HTTP_TIMEOUT)
    else:
        raise SDKError(f"cannot reach the API: unsupported api_server {api_server!r}")
    return conn, url.path.rstrip("/")


def _error_message(body: bytes) -> str:
    try:
        doc = json.loads(body)
        if isinstance(doc, dict) and doc.get("message"):
            return str(doc["message"])
    except ValueError:
        pass
    return body.decode("utf-8", errors="replace").strip()[:500] or "(no message)"


def update_state(state: Any) -> Any:
    """Replace the actor's state with ``state`` (any JSON value); return the stored state."""
    try:
        body = json.dumps(state).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise TypeError(f"the state must be JSON-serialisable: {exc}") from None
    ctx = get_context()
    if not ctx.actor_id:
        raise SDKError("cannot update state: _abaco_actor_id is not set")
    conn, prefix = _connection(ctx.api_server)
    path = f"{prefix}/actors/{urllib.parse.quote(ctx.actor_id, safe='')}/state"
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    token = ctx.execution_token or ctx.access_token   # the API socket takes only the execution's own token
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        answer = response.read()
    except OSError as exc:
        raise SDKError(f"cannot reach the API to update state: {exc}") from None
    finally:
        conn.close()
    if not 200 <= response.status < 300:
        raise APIError(response.status, _error_message(answer))
    try:
        doc = json.loads(answer)
    except ValueError:
        return state
    result = doc.get("result") if isinstance(doc, dict) else None
    if isinstance(result, dict) and "state" in result:
        return result["state"]
    return state
