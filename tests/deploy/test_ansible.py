"""The Ansible deployment (ansible/): lint, a deploy to this machine, a second run, teardown.

The inventory is one host (this machine, ``-c local``) in every group, with a scratch data
directory, a fresh instance and ports of its own. The deploy must bring up a stack that
runs an actor; the second run must change nothing; a missing prerequisite must stop the
play with a message that names it.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import requests
from deploy_helpers import REPO, clean_env, remove_data_dir, stack_settings

from actors import auth
from actors import config as config_mod
from actors.readiness import wait_until

pytestmark = [pytest.mark.deploy, pytest.mark.timeout(900)]
ANSIBLE = REPO / "ansible"


def _inventory(path, settings: dict[str, str], **extra) -> None:
    host_vars = {"ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3",
                 "abaco_host_id": "local"}
    variables = {
        "abaco_instance": settings["ABACO_GENERAL_INSTANCE"],
        "abaco_data_dir": settings["ABACO_GENERAL_DATA_DIR"],
        "abaco_db_address": "127.0.0.1",
        "abaco_web_port": int(settings["ABACO_WEB_PORT"]),
        "abaco_redis_port": int(settings["ABACO_STORE_REDIS_PORT"]),
        "abaco_rabbit_port": int(settings["ABACO_RABBIT_PORT"]),
        "abaco_tls_listen": settings["ABACO_AUTH_TLS_LISTEN"],
        "abaco_logstream_port": int(settings["ABACO_LOGSTREAM_PORT"]),
        "abaco_autoscaler_listen": settings["ABACO_AUTOSCALER_LISTEN"],
        "abaco_dashboard_port": int(settings["ABACO_DASHBOARD_PORT"]),
        "abaco_health_interval": "5s",
        "abaco_settings": {"ABACO_HEALTH_INTERVAL": "2", "ABACO_AUTOSCALER_SOURCE": "direct"},
        **extra,
    }
    groups = {group: {"hosts": {"localhost": host_vars}} for group in ("web", "db", "compute")}
    path.write_text(json.dumps({"all": {"vars": variables, "children": groups}}))   # JSON is YAML


def _playbook(name: str, inventory, env) -> subprocess.CompletedProcess:
    return subprocess.run(["ansible-playbook", "-i", str(inventory), name], cwd=ANSIBLE, env=env,
                          capture_output=True, text=True, timeout=720)


def _recap(output: str) -> dict[str, int]:
    """The PLAY RECAP counters of the one host."""
    line = next(line for line in output.splitlines() if line.startswith("localhost") and "changed=" in line)
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line)}


def test_ansible_lint_passes():
    proc = subprocess.run(["ansible-lint", "--offline"], cwd=ANSIBLE, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_deploy_to_this_machine_then_nothing_changes(compose_images, tmp_path):
    settings = stack_settings("da", offset=4)
    env = clean_env({"ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"})
    inventory = tmp_path / "inventory.json"
    _inventory(inventory, settings)
    try:
        first = _playbook("site.yml", inventory, env)
        assert first.returncode == 0, first.stdout[-4000:] + first.stderr
        assert _recap(first.stdout)["changed"] > 0 and _recap(first.stdout)["failed"] == 0

        # The stack works: an actor registered through the API runs a message.
        cfg = config_mod.load(environ=clean_env(settings))
        url = cfg.web.api_server
        headers = {"Authorization": f"Bearer {auth.issue_token(cfg, 'ansible-user', 'user')}"}
        actor = requests.post(f"{url}/actors", json={"image": "abaco/echo:local"}, headers=headers, timeout=60)
        assert actor.status_code == 200, actor.text
        actor_id = actor.json()["result"]["id"]
        sent = requests.post(f"{url}/actors/{actor_id}/messages", data={"message": "from ansible"},
                             headers=headers, timeout=60).json()["result"]
        done = wait_until(lambda: (lambda e: e if e["status"] in ("COMPLETE", "ERROR") else None)(
            requests.get(f"{url}/actors/{actor_id}/executions/{sent['execution_id']}", headers=headers,
                         timeout=30).json()["result"]), 180, "the execution to finish")
        assert done["status"] == "COMPLETE" and done["cpu"] > 0
        worker = requests.get(f"{url}/actors/{actor_id}/workers", headers=headers, timeout=30).json()["result"]
        assert worker and worker[0]["host_id"] == "local"      # the host id the inventory gave

        second = _playbook("site.yml", inventory, env)
        assert second.returncode == 0, second.stdout[-4000:] + second.stderr
        assert _recap(second.stdout)["changed"] == 0, second.stdout[-4000:]
    finally:
        down = _playbook("teardown.yml", inventory, env)
        remove_data_dir(settings["ABACO_GENERAL_DATA_DIR"])
    assert down.returncode == 0, down.stdout[-4000:] + down.stderr
    left = subprocess.run(["docker", "ps", "-aq", "--filter",
                           f"label=com.docker.compose.project=abaco-{settings['ABACO_GENERAL_INSTANCE']}"],
                          capture_output=True, text=True).stdout.split()
    assert left == []


def test_a_missing_prerequisite_is_named(tmp_path):
    """No image, no docker-compose, no Docker engine: the play stops at the preflight, naming
    what is missing, before it starts anything."""
    settings = stack_settings("dm", offset=8)
    env = clean_env({"ANSIBLE_NOCOLOR": "1"})
    inventory = tmp_path / "inventory.json"
    cases = [({"abaco_core_image": "abaco/not-built-here:local"}, {},
              "prerequisite missing on localhost: the image abaco/not-built-here:local"),
             ({"abaco_compose_command": "/nonexistent/docker-compose"}, {},
              "prerequisite missing on localhost: /nonexistent/docker-compose"),
             ({}, {"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
              "prerequisite missing on localhost: the Docker engine does not answer")]
    try:
        for variables, environment, message in cases:
            _inventory(inventory, settings, **variables)
            proc = _playbook("site.yml", inventory, dict(env, **environment))
            assert proc.returncode != 0 and message in proc.stdout, proc.stdout[-3000:]
            assert "Start the services" not in proc.stdout
            assert _recap(proc.stdout)["changed"] == 0
    finally:
        _inventory(inventory, settings)
        _playbook("teardown.yml", inventory, env)      # in case a preflight let a deploy through
        remove_data_dir(settings["ABACO_GENERAL_DATA_DIR"])
