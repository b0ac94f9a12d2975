"""The whole stack as `make up` starts it, used the way the README tells a user to.

These tests talk to the API at ``[web] api_server`` (http://127.0.0.1:8000 by default)
and drive it with the `abaco` command and plain HTTP, so they also check the stack's
scripts: the API's TCP and unix sockets, the spawner and the health process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from actors import auth
from actors import config as config_mod
from actors.readiness import NotReady, http_status, wait_until

pytestmark = pytest.mark.e2e
ABACO = str(Path(sys.executable).parent / "abaco")


@pytest.fixture(scope="module")
def stack():
    cfg = config_mod.load()
    url = cfg.web.api_server.rstrip("/")
    try:
        wait_until(lambda: http_status(url + "/actors"), 120, f"the API at {url}",
                   logs=[cfg.log_dir / "api.log"])
    except NotReady as exc:
        pytest.fail(f"no API answers at {url}: start the stack with `make up` (make test does)\n{exc}")
    # The stack runs with the default [web] compat = abaco: no credentials is Abaco's 400.
    no_token = requests.get(url + "/actors", timeout=30)
    assert no_token.status_code == (400 if cfg.web.compat == "abaco" else 401)
    assert no_token.json()["message"].startswith("No JWT or nonce provided.")
    token = auth.issue_token(cfg, "e2e-user", "user")
    env = dict(os.environ, ABACO_URL=url, ABACO_TOKEN=token)
    created: list[str] = []
    yield cfg, url, env, created
    for actor_id in created:
        requests.delete(f"{url}/actors/{actor_id}", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def abaco(env, *args, check=True) -> str:
    proc = subprocess.run([ABACO, *args], env=env, capture_output=True, text=True, timeout=180)
    if check:
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc.stdout


def abaco_json(env, *args):
    return json.loads(abaco(env, "--json", *args))


def test_cli_register_send_sync_logs(stack):
    cfg, url, env, created = stack
    actor = abaco_json(env, "actors", "create", "--image", "abaco/echo:local", "--name", "e2e-echo",
                       "--env", "GREETING=hi")
    created.append(actor["id"])
    assert actor["status"] in ("SUBMITTED", "READY") and actor["owner"] == "e2e-user"
    out = abaco(env, "send", actor["id"], "hello from e2e", "--sync")
    assert "Contents of MSG: hello from e2e" in out
    assert "GREETING=hi" in out
    executions = abaco_json(env, "executions", actor["id"])
    assert executions["total_executions"] == 1
    eid = executions["executions"][0]["id"]
    execution = abaco_json(env, "execution", actor["id"], eid)
    assert execution["status"] == "COMPLETE" and execution["exit_code"] == 0 and execution["cpu"] > 0
    assert "hello from e2e" in abaco(env, "logs", actor["id"], eid)
    assert actor["id"] in abaco(env, "actors", "list")


def test_python_actor_with_state_and_results(stack):
    cfg, url, env, created = stack
    actor = abaco_json(env, "actors", "create", "--image", "abaco/pyactor:local", "--stateful")
    created.append(actor["id"])
    sent = abaco_json(env, "send", actor["id"], "--json", '{"n": 1}')
    eid = sent["execution_id"]
    abaco(env, "wait", actor["id"], eid, "--timeout", "120")
    assert abaco_json(env, "execution", actor["id"], eid)["status"] == "COMPLETE"
    assert abaco_json(env, "state", actor["id"]) == {"count": 1}
    result_actor = abaco_json(env, "actors", "create", "--image", "abaco/result:local")
    created.append(result_actor["id"])
    sent = abaco_json(env, "send", result_actor["id"], "abc")
    abaco(env, "wait", result_actor["id"], sent["execution_id"], "--timeout", "120")
    headers = {"Authorization": f"Bearer {env['ABACO_TOKEN']}"}
    path = f"{url}/actors/{result_actor['id']}/executions/{sent['execution_id']}/results"
    requests.get(path, headers=headers, timeout=30)           # the pickled dict
    assert requests.get(path, headers=headers, timeout=30).content == b"result:abc"


def test_binary_message_over_http(stack, tmp_path):
    cfg, url, env, created = stack
    actor = abaco_json(env, "actors", "create", "--image", "abaco/binary:local")
    created.append(actor["id"])
    data = os.urandom(100_000)
    (tmp_path / "blob").write_bytes(data)
    out = abaco(env, "send", actor["id"], "--binary", str(tmp_path / "blob"), "--sync")
    import hashlib
    assert hashlib.sha256(data).hexdigest() in out


def test_errors_reach_the_user(stack):
    cfg, url, env, created = stack
    proc = subprocess.run([ABACO, "actors", "get", "doesnotexist"], env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and "doesnotexist" in (proc.stderr + proc.stdout)
    resp = requests.post(f"{url}/actors", json={"image": ""},
                         headers={"Authorization": f"Bearer {env['ABACO_TOKEN']}"}, timeout=30)
    assert resp.status_code == 400 and resp.json()["status"] == "error"


def test_demo_script_runs(stack):
    cfg, url, env, created = stack
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve().parents[2] / "scripts" / "demo.py"),
                           "--cleanup"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "status          COMPLETE" in proc.stdout
    assert "cpu" in proc.stdout and "| " in proc.stdout


def test_https_listener_in_every_mode(stack):
    """`make up` puts nginx with the project CA's certificate on [auth] tls_listen; `make status` shows it."""
    cfg, url, env, created = stack
    https = f"https://{cfg.auth.tls_listen}"
    headers = {"Authorization": f"Bearer {env['ABACO_TOKEN']}"}
    ca = str(cfg.tls_cert_dir / "ca.pem")
    resp = requests.get(f"{https}/actors/v2", headers=headers, verify=ca, timeout=30)
    assert resp.status_code == 200 and resp.json()["status"] == "success", resp.text
    anonymous = requests.get(f"{https}/actors", verify=ca, timeout=30)
    assert anonymous.status_code == (400 if cfg.web.compat == "abaco" else 401), anonymous.text   # no credentials
    assert requests.get(f"{url}/actors", headers=headers, timeout=30).status_code == 200   # plain HTTP too
    status = subprocess.run([str(Path(__file__).resolve().parents[2] / "scripts" / "stack.sh"), "status"],
                            capture_output=True, text=True, timeout=120)
    tls_row = next(line for line in status.stdout.splitlines() if line.startswith("tls "))
    assert "running" in tls_row and https in tls_row, status.stdout


def test_cli_follows_a_live_log(stack):
    """`abaco logs -f` through the API's redirect to the stack's logstream process, to the end."""
    cfg, url, env, created = stack
    actor = abaco_json(env, "actors", "create", "--image", "abaco/sleep:local")
    created.append(actor["id"])
    eid = abaco_json(env, "send", actor["id"], "follow me", "--env", "SLEEP_SECONDS=2")["execution_id"]
    proc = subprocess.run([ABACO, "logs", "-f", actor["id"], eid], env=env, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == abaco(env, "logs", actor["id"], eid)     # what was followed is the stored log
    assert "sleep 2/2" in proc.stdout and "done sleeping" in proc.stdout
