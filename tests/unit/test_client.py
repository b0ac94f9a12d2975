"""The user client and the ``abaco`` command against a tiny real HTTP server.

The server answers canned responses per (method, path) and records what it received, so
the tests check both what the client sends and how it reads the API's envelope.
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse

import pytest

from actors.sdk import cli
from actors.sdk.client import Client, ClientError, get_field


def envelope(result, message="ok", status="success"):
    return {"status": status, "message": message, "result": result, "version": "test"}


class FakeAPI:
    """Canned answers: routes[(METHOD, path)] = (status, body, headers) or a list of them."""

    def __init__(self):
        self.routes: dict = {}
        self.seen: list[dict] = []
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                url = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                api.seen.append({"method": self.command, "path": url.path,
                                 "query": dict(urllib.parse.parse_qsl(url.query)),
                                 "headers": dict(self.headers), "body": self.rfile.read(length)})
                answer = api.routes.get((self.command, url.path))
                if isinstance(answer, list):
                    answer = answer.pop(0) if len(answer) > 1 else answer[0]
                if answer is None:
                    answer = (404, envelope(None, f"no route {url.path}", "error"), {})
                status, body, headers = answer
                if not isinstance(body, bytes):
                    body = json.dumps(body).encode()
                    headers = {"Content-Type": "application/json", **headers}
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def ok(self, method, path, result, headers=None):
        self.routes[(method, path)] = (200, envelope(result), headers or {})


@pytest.fixture
def api():
    fake = FakeAPI()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def client(api):
    return Client(api.url, "tok-123")


# ---------------------------------------------------------------- envelope handling

def test_result_is_unwrapped_and_the_token_sent(api, client):
    api.ok("GET", "/actors", [{"id": "a1"}])
    assert client.list_actors() == [{"id": "a1"}]
    assert api.seen[0]["headers"]["Authorization"] == "Bearer tok-123"


def test_error_envelope_becomes_client_error(api, client):
    api.routes[("GET", "/actors/nope")] = (404, envelope(None, "no actor with id 'nope'", "error"), {})
    with pytest.raises(ClientError) as info:
        client.get_actor("nope")
    assert info.value.status == 404 and info.value.message == "no actor with id 'nope'"
    assert "HTTP 404" in str(info.value)


def test_error_without_json_keeps_the_text(api, client):
    api.routes[("GET", "/actors")] = (502, b"Bad Gateway from the proxy", {"Content-Type": "text/plain"})
    with pytest.raises(ClientError) as info:
        client.list_actors()
    assert info.value.status == 502 and "Bad Gateway" in info.value.message


def test_error_status_inside_a_200_envelope_is_an_error(api, client):
    api.routes[("GET", "/actors")] = (200, envelope(None, "something broke", "error"), {})
    with pytest.raises(ClientError, match="something broke"):
        client.list_actors()


def test_json_that_is_not_an_envelope_is_refused(api, client):
    api.routes[("GET", "/actors")] = (200, {"hello": 1}, {})
    with pytest.raises(ClientError, match="not an Abaco envelope"):
        client.list_actors()


def test_unreachable_api_is_status_zero():
    with pytest.raises(ClientError) as info:
        Client("http://127.0.0.1:9", "t", timeout=2).list_actors()
    assert info.value.status == 0 and "cannot reach the API" in info.value.message


def test_get_field_reads_snake_or_camel_case():
    assert get_field({"status_message": "a"}, "status_message") == "a"
    assert get_field({"statusMessage": "b"}, "status_message") == "b"
    assert get_field({}, "default_environment", {}) == {}


# ---------------------------------------------------------------- requests sent

def test_create_and_update_send_only_given_fields(api, client):
    api.ok("POST", "/actors", {"id": "a1"})
    api.ok("PUT", "/actors/a1", {"id": "a1", "revision": 2})
    client.create_actor("abaco/echo:local", name="e", max_workers=None, stateless=False)
    client.update_actor("a1", "abaco/echo:local", force=True)
    assert json.loads(api.seen[0]["body"]) == {"image": "abaco/echo:local", "name": "e", "stateless": False}
    assert json.loads(api.seen[1]["body"]) == {"image": "abaco/echo:local", "force": True}


def test_messages_string_json_binary_and_environment(api, client):
    api.ok("POST", "/actors/a1/messages", {"execution_id": "e1"})
    assert client.send_message("a1", "hello there", env={"WHO": "me"})["execution_id"] == "e1"
    client.send_message("a1", json_message={"n": [1, 2]})
    client.send_message("a1", json_message=None)
    client.send_message("a1", binary=b"\x00\xffdata")
    form, doc, null, raw = api.seen
    assert form["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert urllib.parse.parse_qs(form["body"].decode()) == {"message": ["hello there"]}
    assert form["query"] == {"WHO": "me"}
    assert doc["headers"]["Content-Type"] == "application/json" and json.loads(doc["body"]) == {"n": [1, 2]}
    assert null["body"] == b"null"
    assert raw["headers"]["Content-Type"] == "application/octet-stream" and raw["body"] == b"\x00\xffdata"
    with pytest.raises(ValueError):
        client.send_message("a1")


def test_synchronous_message_returns_raw_bytes(api, client):
    api.routes[("POST", "/actors/a1/messages")] = (
        200, b"\x80\x04result", {"Content-Type": "application/octet-stream",
                                 "X-Abaco-Execution-Id": "e9", "X-Abaco-Execution-Status": "COMPLETE"})
    reply = client.send_sync("a1", "go")
    assert api.seen[0]["query"] == {"_abaco_synchronous": "true"}
    assert reply.finished and reply.body == b"\x80\x04result"
    assert (reply.execution_id, reply.status) == ("e9", "COMPLETE")


def test_synchronous_message_that_outlives_the_wait(api, client):
    api.ok("POST", "/actors/a1/messages", {"execution_id": "e9", "status": "RUNNING"})
    reply = client.send_sync("a1", "go")
    assert not reply.finished and reply.execution_id == "e9" and reply.status == "RUNNING"


def test_results_logs_state_and_workers(api, client):
    api.routes[("GET", "/actors/a1/executions/e1/results")] = (200, b"raw-result", {"Content-Type": "application/octet-stream"})
    api.ok("GET", "/actors/a1/executions/e1/logs", {"logs": "line 1\n"})
    api.ok("POST", "/actors/a1/state", {"state": {"count": 10}})
    api.ok("POST", "/actors/a1/workers", {"requested": 2})
    assert client.get_result("a1", "e1") == b"raw-result"
    assert client.get_logs("a1", "e1") == "line 1\n"
    assert client.set_state("a1", {"count": 10}) == {"count": 10}
    assert json.loads(api.seen[2]["body"]) == {"count": 10}
    assert client.add_workers("a1", 2)["requested"] == 2
    assert json.loads(api.seen[3]["body"]) == {"num": 2}


def test_wait_polls_until_a_terminal_status(api, client):
    path = ("GET", "/actors/a1/executions/e1")
    api.routes[path] = [(200, envelope({"id": "e1", "status": s}), {}) for s in ("SUBMITTED", "RUNNING", "COMPLETE")]
    assert client.wait_execution("a1", "e1", timeout=10, interval=0.01)["status"] == "COMPLETE"
    assert len(api.seen) == 3
    api.routes[path] = [(200, envelope({"id": "e1", "status": "RUNNING"}), {})]
    with pytest.raises(TimeoutError, match="still RUNNING"):
        client.wait_execution("a1", "e1", timeout=0.05, interval=0.01)


# ---------------------------------------------------------------- the command line

def test_parser_options_work_before_or_after_the_subcommand(monkeypatch):
    monkeypatch.setenv("ABACO_URL", "http://env:1")
    monkeypatch.setenv("ABACO_TOKEN", "envtok")
    parser = cli.build_parser()
    args = parser.parse_args(["actors", "list"])
    assert (args.url, args.token, args.raw_json) == ("http://env:1", "envtok", False)
    args = parser.parse_args(["--url", "http://a:2", "actors", "list", "--json", "--token", "t2"])
    assert (args.url, args.token, args.raw_json) == ("http://a:2", "t2", True)


def test_parser_send_json_is_the_message_and_global_json_the_output():
    args = cli.build_parser().parse_args(["--json", "send", "a1", "--json", '{"a": 1}', "--env", "X=1=2", "--sync"])
    assert args.raw_json is True and args.json_message == {"a": 1}
    assert args.env == [("X", "1=2")] and args.sync is True and args.message is None


def test_parser_create_collects_actor_fields():
    args = cli.build_parser().parse_args(["actors", "create", "--image", "abaco/echo:local", "--stateful",
                                          "--env", "A=1", "--env", "B=2", "--max-workers", "3",
                                          "--mem-limit", "256m", "--max-cpus", "500000000"])
    assert args.stateful and args.image == "abaco/echo:local"
    assert cli._actor_fields(args) == {"default_environment": {"A": "1", "B": "2"},
                                       "max_workers": 3, "mem_limit": "256m", "max_cpus": 500000000}


def test_actor_token_option_leaves_the_callers_token_alone():
    args = cli.build_parser().parse_args(["actors", "create", "--token", "T1", "--image", "x/y", "--with-token"])
    assert args.token == "T1" and cli._actor_fields(args) == {"token": True}


def test_parser_options_come_from_the_field_table():
    args = cli.build_parser().parse_args(["actors", "update", "a1", "--image", "x/y", "--log-ex", "60",
                                          "--no-with-token", "--read-only-root", "--cpu-seconds", "2.5"])
    assert cli._actor_fields(args) == {"log_ex": 60, "token": False, "read_only_root": True, "cpu_seconds": 2.5}


@pytest.mark.parametrize("argv", [["actors"], ["send"], ["wait", "a1"], ["send", "a1", "--env", "NOEQUALS"],
                                  ["state", "a1", "--set", "{bad"], ["token"], ["token", "--user", "u", "--role", "god"]])
def test_parser_rejects_bad_usage(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.build_parser().parse_args(argv)
    assert info.value.code == 2


@pytest.mark.parametrize("argv", [["--help"], ["actors", "--help"], ["actors", "update", "--help"], ["send", "--help"],
                                  ["results", "--help"], ["state", "--help"], ["token", "--help"], ["wait", "--help"]])
def test_help_everywhere(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.build_parser().parse_args(argv)
    assert info.value.code == 0 and "usage: abaco" in capsys.readouterr().out


def test_cli_lists_actors_as_a_table_even_in_camel_case(api, capsys):
    api.ok("GET", "/actors", [{"id": "a1", "name": "echo", "image": "abaco/echo:local", "status": "READY",
                               "stateless": False, "owner": "alice", "createTime": "t"}])
    assert cli.main(["--url", api.url, "--token", "t", "actors", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["ID", "NAME", "IMAGE", "STATUS", "STATEFUL", "OWNER"]
    assert out[1].split() == ["a1", "echo", "abaco/echo:local", "READY", "yes", "alice"]
    assert cli.main(["--url", api.url, "actors", "get", "a1", "--json"]) == 1     # no such route: 404
    assert "no route" in capsys.readouterr().err


def test_cli_json_output_and_actor_fields(api, capsys):
    actor = {"id": "a1", "image": "abaco/echo:local", "statusMessage": "", "maxWorkers": 2, "extra": 1}
    api.ok("GET", "/actors/a1", actor)
    assert cli.main(["--url", api.url, "--json", "actors", "get", "a1"]) == 0
    assert json.loads(capsys.readouterr().out) == actor
    assert cli.main(["--url", api.url, "actors", "get", "a1"]) == 0
    lines = dict(line.split(None, 1) if " " in line.strip() else (line.strip(), "")
                 for line in capsys.readouterr().out.splitlines())
    assert lines["id"].strip() == "a1" and lines["max_workers"].strip() == "2" and lines["extra"].strip() == "1"


def test_cli_send_prints_the_execution_id_and_sync_output(api, capsys):
    api.ok("POST", "/actors/a1/messages", {"execution_id": "e1", "msg": "hi"})
    assert cli.main(["--url", api.url, "send", "a1", "hi", "--env", "K=V"]) == 0
    assert capsys.readouterr().out.strip() == "e1"
    assert api.seen[-1]["query"] == {"K": "V"}
    api.routes[("POST", "/actors/a1/messages")] = (200, b"Contents of MSG: hi\n",
                                                   {"Content-Type": "text/plain", "X-Abaco-Execution-Id": "e2"})
    assert cli.main(["--url", api.url, "send", "a1", "hi", "--sync"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "Contents of MSG: hi\n" and "e2" in captured.err
    assert cli.main(["--url", api.url, "send", "a1"]) == 2                  # no message given


def test_cli_send_binary_file_and_raw_results(api, tmp_path, capsysbinary):
    data = bytes(range(256))
    (tmp_path / "blob").write_bytes(data)
    api.ok("POST", "/actors/a1/messages", {"execution_id": "e1"})
    assert cli.main(["--url", api.url, "send", "a1", "--binary", str(tmp_path / "blob")]) == 0
    assert api.seen[-1]["body"] == data
    api.routes[("GET", "/actors/a1/executions/e1/results")] = (200, data, {"Content-Type": "application/octet-stream"})
    capsysbinary.readouterr()
    assert cli.main(["--url", api.url, "results", "a1", "e1"]) == 0
    assert capsysbinary.readouterr().out == data


def test_cli_wait_exit_status_follows_the_execution(api, capsys):
    api.ok("GET", "/actors/a1/executions/e1", {"id": "e1", "status": "COMPLETE", "exitCode": 0})
    assert cli.main(["--url", api.url, "wait", "a1", "e1"]) == 0
    assert "COMPLETE (exit code 0)" in capsys.readouterr().out
    api.ok("GET", "/actors/a1/executions/e1", {"id": "e1", "status": "COMPLETE", "exit_code": 3})
    assert cli.main(["--url", api.url, "wait", "a1", "e1"]) == 1


def test_cli_state_get_and_set(api, capsys):
    api.ok("GET", "/actors/a1/state", {"actor_id": "a1", "state": {"count": 1}})
    api.ok("POST", "/actors/a1/state", {"actor_id": "a1", "state": {"count": 5}})
    assert cli.main(["--url", api.url, "state", "a1"]) == 0
    assert json.loads(capsys.readouterr().out) == {"count": 1}
    assert cli.main(["--url", api.url, "state", "a1", "--set", '{"count": 5}']) == 0
    assert json.loads(capsys.readouterr().out) == {"count": 5}


def test_cli_token_mints_a_token_the_platform_accepts(tmp_path, monkeypatch, capsys):
    from actors import auth, config
    monkeypatch.setenv("ABACO_GENERAL_DATA_DIR", str(tmp_path))
    assert cli.main(["token", "--user", "alice", "--role", "admin", "--ttl", "60"]) == 0
    token = capsys.readouterr().out.strip()
    who = auth.Authenticator(config.load()).identify({"Authorization": f"Bearer {token}"})
    assert (who.user, who.role, who.tenant) == ("alice", "admin", "default")
    assert cli.main(["token", "--user", "bad user!"]) == 1
    assert "user must be" in capsys.readouterr().err
