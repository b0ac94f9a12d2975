"""The platform as docker-compose services (`make compose-up`), used the way a user would.

One compose stack for the module, started by ``scripts/compose.sh up`` with a fresh
instance, data directory and ports, and removed by ``scripts/compose.sh down``. The
end-to-end checks of tests/e2e/test_stack.py (register, message, sync, binary, logs,
accounting) run against it unchanged; then the spawner's container is killed with
``docker kill`` while messages are running and queued: it comes back, and every message
is run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess

import pytest
import requests
from deploy_helpers import REPO, clean_env, remove_data_dir, stack_settings

from actors import auth
from actors import config as config_mod
from actors.readiness import wait_until

# The stack's start (in the first test's setup) may take minutes on a busy machine.
pytestmark = [pytest.mark.deploy, pytest.mark.timeout(900)]
COMPOSE = str(REPO / "scripts" / "compose.sh")


def _load_e2e():
    spec = importlib.util.spec_from_file_location("e2e_test_stack", REPO / "tests" / "e2e" / "test_stack.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


e2e = _load_e2e()


@pytest.fixture(scope="module")
def compose_stack(compose_images):
    settings = stack_settings("dc")
    env = clean_env(dict(settings, ABACO_COMPOSE_HEALTH_INTERVAL="5s", COMPOSE_START_TIMEOUT="600"))
    up = subprocess.run([COMPOSE, "up"], env=env, capture_output=True, text=True, timeout=720)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "healthy" in up.stdout
        yield env, config_mod.load(environ=env)
    finally:
        down = subprocess.run([COMPOSE, "down"], env=env, capture_output=True, text=True, timeout=180)
        remove_data_dir(settings["ABACO_GENERAL_DATA_DIR"])
        assert down.returncode == 0, down.stdout + down.stderr


@pytest.fixture(scope="module")
def stack(compose_stack):
    """What tests/e2e/test_stack.py's ``stack`` gives its tests, for the compose stack."""
    env, cfg = compose_stack
    url = cfg.web.api_server
    token = auth.issue_token(cfg, "e2e-user", "user")   # the owner the e2e checks expect
    cli_env = dict(env, ABACO_URL=url, ABACO_TOKEN=token)
    created: list[str] = []
    yield cfg, url, cli_env, created
    for actor_id in created:
        requests.delete(f"{url}/actors/{actor_id}", headers={"Authorization": f"Bearer {token}"}, timeout=30)


# The end-to-end checks, run as they are against the compose stack's API.
test_cli_register_send_sync_logs = e2e.test_cli_register_send_sync_logs
test_python_actor_with_state_and_results = e2e.test_python_actor_with_state_and_results
test_binary_message_over_http = e2e.test_binary_message_over_http
test_errors_reach_the_user = e2e.test_errors_reach_the_user


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=60).stdout.strip()


def _container(cfg, service: str) -> str:
    return f"abaco-{cfg.general.instance}_{service}_1"


def test_every_service_is_healthy_on_the_host_network(stack):
    cfg, url, env, created = stack
    ids = _docker("ps", "-q", "--filter", f"label=com.docker.compose.project=abaco-{cfg.general.instance}").split()
    inspected = json.loads(_docker("inspect", *ids))
    services = {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in inspected}
    assert set(services) >= {"redis", "rabbitmq", "api", "tls", "spawner", "health", "accounting", "clientg",
                             "events", "watchdog"}
    for name, c in services.items():
        assert c["State"]["Health"]["Status"] == "healthy", name
        assert c["HostConfig"]["NetworkMode"] == "host", name
        assert c["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped", name
    assert services["spawner"]["HostConfig"]["PidMode"] == "host"
    assert services["api"]["HostConfig"]["PidMode"] != "host"     # only the compute services share host pids
    # The HTTPS listener of the stack, with the CA its tls service made in the data directory.
    headers = {"Authorization": f"Bearer {env['ABACO_TOKEN']}"}
    resp = requests.get(f"https://{cfg.auth.tls_listen}/actors", headers=headers,
                        verify=str(cfg.tls_cert_dir / "ca.pem"), timeout=30)
    assert resp.status_code == 200 and resp.json()["status"] == "success", resp.text


def test_executions_are_accounted_in_the_data_directory(stack):
    """The accounting service writes its files in the data directory the host sees, with CPU time."""
    cfg, url, env, created = stack
    actor = e2e.abaco_json(env, "actors", "create", "--image", "abaco/echo:local")
    created.append(actor["id"])
    sent = e2e.abaco_json(env, "send", actor["id"], "count me")
    e2e.abaco(env, "wait", actor["id"], sent["execution_id"], "--timeout", "120")
    execution = e2e.abaco_json(env, "execution", actor["id"], sent["execution_id"])
    assert execution["status"] == "COMPLETE" and execution["cpu"] > 0
    lines = wait_until(lambda: [line for line in cfg.accounting_csv.read_text().splitlines()
                                if sent["execution_id"] in line] if cfg.accounting_csv.exists() else None,
                       60, "the execution's accounting record")
    assert len(lines) == 1


def test_docker_kill_of_the_spawner_loses_no_message(stack):
    cfg, url, env, created = stack
    headers = {"Authorization": f"Bearer {env['ABACO_TOKEN']}"}
    actor = requests.post(f"{url}/actors", headers=headers, timeout=30,
                          json={"image": "abaco/sleep:local", "default_environment": {"SLEEP_SECONDS": "3"}}).json()
    actor_id = actor["result"]["id"]
    created.append(actor_id)

    def status() -> str:
        return requests.get(f"{url}/actors/{actor_id}", headers=headers, timeout=30).json()["result"]["status"]
    wait_until(lambda: status() == "READY", 120, "the sleep actor to be READY")

    def send(text: str) -> str:
        resp = requests.post(f"{url}/actors/{actor_id}/messages", data={"message": text}, headers=headers, timeout=30)
        assert resp.status_code == 200, resp.text
        return resp.json()["result"]["execution_id"]

    def execution(eid: str) -> dict:
        return requests.get(f"{url}/actors/{actor_id}/executions/{eid}", headers=headers, timeout=30).json()["result"]

    sent = [send("before-1"), send("before-2")]
    wait_until(lambda: execution(sent[0])["status"] == "RUNNING", 120, "the first execution to run")
    spawner = _container(cfg, "spawner")
    started_before = _docker("inspect", "-f", "{{.State.StartedAt}}", spawner)
    _docker("kill", spawner)
    sent.append(send("while-the-spawner-is-down"))
    wait_until(lambda: _docker("inspect", "-f", "{{.State.Running}} {{.State.StartedAt}}", spawner)
               .split()[0] == "true" and _docker("inspect", "-f", "{{.State.StartedAt}}", spawner) != started_before,
               60, "the spawner's container to run again")
    finished = wait_until(lambda: (lambda runs: runs if all(r["status"] in ("COMPLETE", "ERROR") for r in runs)
                                   else None)([execution(eid) for eid in sent]),
                          240, "every message sent around the kill to be run")
    assert [r["status"] for r in finished] == ["COMPLETE"] * 3, finished
    logs = subprocess.run(["docker", "logs", _container(cfg, "watchdog")], capture_output=True, text=True).stderr
    assert "service spawner" in logs and "killed from outside" in logs
    # The restarted spawner is healthy again.
    wait_until(lambda: _docker("inspect", "-f", "{{.State.Health.Status}}", spawner) == "healthy", 120,
               "the spawner to be healthy again")


def test_compose_needs_its_prerequisites(tmp_path):
    """A missing prerequisite stops `compose.sh up` with a message naming it, before anything starts."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for tool in ("docker", "timeout", "sed", "grep", "env", "sort", "dirname", "cat"):
        real = subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        if real:
            os.symlink(real, fake_bin / tool)
    env = dict(clean_env(stack_settings("dx", offset=10)), PATH=str(fake_bin))
    proc = subprocess.run(["/bin/bash", COMPOSE, "up"], env=env, capture_output=True, text=True, timeout=60)
    remove_data_dir(env["ABACO_GENERAL_DATA_DIR"])
    assert proc.returncode != 0 and "docker-compose is missing" in proc.stderr, proc.stderr
    env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"
    proc = subprocess.run(["/bin/bash", COMPOSE, "up"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "the Docker engine does not answer" in proc.stderr, proc.stderr

