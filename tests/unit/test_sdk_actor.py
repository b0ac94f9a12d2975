"""The actor SDK against real sockets and FIFOs in a temporary directory.

The container paths are pointed into a short temporary directory (Unix socket paths
are limited to 108 bytes, too short for some pytest tmp_path names).
"""

from __future__ import annotations

import http.server
import json
import os
import pickle
import shutil
import socket
import socketserver
import tempfile
import threading
from pathlib import Path

import cloudpickle
import pytest

from actors.sdk import actor as sdk


@pytest.fixture
def short_dir():
    path = Path(tempfile.mkdtemp(prefix="sdk", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def paths(short_dir, monkeypatch):
    """Point the SDK's container paths into the temporary directory."""
    monkeypatch.setattr(sdk, "BINARY_DATA_PATH", str(short_dir / "binary"))
    monkeypatch.setattr(sdk, "RESULTS_SOCKET_PATH", str(short_dir / "results.sock"))
    monkeypatch.setattr(sdk, "API_SOCKET_PATH", str(short_dir / "api.sock"))
    return short_dir


@pytest.fixture
def contract_env(monkeypatch):
    env = {"MSG": '{"a": 1}', "_abaco_Content_Type": "application/json",
           "_abaco_execution_id": "ex1", "_abaco_username": "alice",
           "_abaco_actor_state": '{"count": 2}', "_abaco_actor_id": "act1",
           "_abaco_actor_dbid": "default_act1", "_abaco_actor_name": "counter",
           "_abaco_worker_id": "w1", "_abaco_container_repo": "abaco/pyactor:local",
           "_abaco_api_server": "http://127.0.0.1:9", "_abaco_access_token": "tok",
           "_abaco_jwt_header_name": "Authorization"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


# ---------------------------------------------------------------- context

def test_context_reads_the_contract_environment(contract_env):
    ctx = sdk.get_context()
    assert ctx.raw_message == '{"a": 1}' and ctx["raw_message"] == ctx.raw_message
    assert ctx.content_type == "application/json"
    assert ctx.message_dict == {"a": 1}
    assert ctx.state == {"count": 2}
    assert (ctx.execution_id, ctx.username, ctx.actor_id, ctx.actor_dbid) == ("ex1", "alice", "act1", "default_act1")
    assert (ctx.actor_name, ctx.worker_id, ctx.actor_repo) == ("counter", "w1", "abaco/pyactor:local")
    assert (ctx.api_server, ctx.access_token, ctx.jwt_header_name) == ("http://127.0.0.1:9", "tok", "Authorization")
    assert ctx.environment["_abaco_actor_id"] == "act1"
    ctx.environment["X"] = "changed"
    assert "X" not in os.environ or os.environ["X"] != "changed"
    with pytest.raises(AttributeError):
        _ = ctx.no_such_key


def test_string_message_has_an_empty_message_dict_and_empty_state(monkeypatch):
    monkeypatch.setenv("MSG", '{"looks": "like json"}')
    monkeypatch.setenv("_abaco_Content_Type", "str")
    monkeypatch.setenv("_abaco_actor_state", "")
    ctx = sdk.get_context()
    assert ctx.message_dict == {} and ctx.state == {}
    assert ctx.raw_message == '{"looks": "like json"}'


def test_invalid_json_message_gives_an_empty_dict(monkeypatch):
    monkeypatch.setenv("MSG", "{not json")
    monkeypatch.setenv("_abaco_Content_Type", "application/json")
    assert sdk.get_context().message_dict == {}


# ---------------------------------------------------------------- binary message

def test_binary_message_is_read_from_the_fifo(paths):
    data = os.urandom(300_000)       # larger than a pipe buffer: the writer must block and resume
    os.mkfifo(paths / "binary")

    def feed():
        with open(paths / "binary", "wb") as fifo:
            fifo.write(data)

    writer = threading.Thread(target=feed)
    writer.start()
    assert sdk.get_binary_message() == data
    writer.join(5)


def test_binary_message_missing_is_a_clear_error(paths, monkeypatch):
    monkeypatch.setenv("_abaco_Content_Type", "str")
    with pytest.raises(sdk.SDKError, match="no binary message.*'str'"):
        sdk.get_binary_message()


# ---------------------------------------------------------------- results

@pytest.fixture
def results_socket(paths):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(paths / "results.sock"))
    sock.settimeout(5)
    yield sock
    sock.close()


def test_bytes_and_python_results_arrive_as_datagrams(results_socket):
    sdk.send_bytes_result(b"first")
    sdk.send_python_result({"n": [1, 2, 3]})
    big = os.urandom(150_000)
    sdk.send_bytes_result(big)
    assert results_socket.recv(1 << 20) == b"first"
    assert pickle.loads(results_socket.recv(1 << 20)) == {"n": [1, 2, 3]}
    assert results_socket.recv(1 << 20) == big


def test_a_function_travels_with_cloudpickle_as_in_abaco(results_socket):
    factor = 3
    sdk.send_python_result(lambda x: factor * x)
    assert cloudpickle.loads(results_socket.recv(1 << 20))(14) == 42


def test_result_must_be_bytes(results_socket):
    with pytest.raises(TypeError, match="send_python_result"):
        sdk.send_bytes_result("text")


def test_result_without_socket_is_a_clear_error(paths):
    with pytest.raises(sdk.SDKError, match="does not exist"):
        sdk.send_bytes_result(b"x")


def test_result_with_nobody_listening_is_a_clear_error(paths):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(paths / "results.sock"))
    sock.close()                      # the file stays, the receiver is gone
    with pytest.raises(sdk.SDKError, match="nobody is listening"):
        sdk.send_bytes_result(b"x")


# ---------------------------------------------------------------- state

class _StateAPI(http.server.BaseHTTPRequestHandler):
    """Answers POST /actors/{id}/state like the API; records what it saw."""

    seen: list = []
    answer_status = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if type(self).answer_status == 200:
            doc = {"status": "success", "message": "State updated successfully.",
                   "result": {"actor_id": "act1", "state": json.loads(body)}, "version": "t"}
        else:
            doc = {"status": "error", "message": "actor act1 is stateless", "result": None, "version": "t"}
        raw = json.dumps(doc).encode()
        self.send_response(type(self).answer_status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def api_socket(paths):
    _StateAPI.seen = []
    _StateAPI.answer_status = 200
    server = _UnixHTTPServer(str(paths / "api.sock"), _StateAPI)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield _StateAPI
    server.shutdown()
    server.server_close()


def test_update_state_posts_json_over_the_api_socket(contract_env, api_socket):
    assert sdk.update_state({"count": 3}) == {"count": 3}
    (request,) = api_socket.seen
    assert request["path"] == "/actors/act1/state"
    assert request["headers"]["Authorization"] == "Bearer tok"
    assert request["headers"]["Host"] == "localhost"
    assert request["headers"]["Content-Type"] == "application/json"
    assert json.loads(request["body"]) == {"count": 3}


def test_update_state_error_carries_the_api_message(contract_env, api_socket):
    api_socket.answer_status = 400
    with pytest.raises(sdk.APIError, match="400.*stateless") as info:
        sdk.update_state({"count": 1})
    assert info.value.status == 400 and info.value.message == "actor act1 is stateless"


def test_update_state_rejects_what_json_cannot_hold(contract_env, api_socket):
    with pytest.raises(TypeError, match="JSON"):
        sdk.update_state({"when": object()})
    assert api_socket.seen == []


def test_update_state_uses_http_when_no_socket_is_mounted(contract_env, paths, monkeypatch):
    _StateAPI.seen = []
    _StateAPI.answer_status = 200
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StateAPI)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("_abaco_api_server", f"http://127.0.0.1:{server.server_address[1]}/prefix/")
        assert sdk.update_state([1, 2]) == [1, 2]
        assert _StateAPI.seen[0]["path"] == "/prefix/actors/act1/state"
    finally:
        server.shutdown()
        server.server_close()


def test_update_state_unreachable_api_is_a_clear_error(contract_env, paths, monkeypatch):
    with socket.socket() as s:       # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("_abaco_api_server", f"http://127.0.0.1:{port}")
    with pytest.raises(sdk.SDKError, match="cannot reach the API"):
        sdk.update_state({})
