"""docker-compose.yml runs every platform process the way the deployment promises."""

from __future__ import annotations

from pathlib import Path

import yaml

from actors.services import PROCESSES

REPO = Path(__file__).resolve().parents[2]


def services() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]


def test_every_platform_process_is_a_service_of_the_core_image():
    found = services()
    for process in PROCESSES:
        assert process.name in found, f"{process.name} (actors/services PROCESSES) is not in docker-compose.yml"
        assert found[process.name]["image"] == "abaco/core:local"
        assert found[process.name]["command"][0] == process.command
    assert found["tls"]["command"] == ["abaco-tls"] and found["tls"]["image"] == "abaco/core:local"
    assert found["redis"]["image"] == "abaco/redis:local" and found["rabbitmq"]["image"] == "abaco/rabbitmq:local"


def test_every_service_is_on_the_host_network_restarts_and_has_a_healthcheck():
    for name, service in services().items():
        assert service["network_mode"] == "host", name
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"][0] == "CMD", name


def test_the_data_directory_is_mounted_at_the_same_path():
    for name, service in services().items():
        if name == "watchdog":
            continue
        data = [v for v in service["volumes"] if v.startswith("${ABACO_GENERAL_DATA_DIR")]
        assert len(data) == 1, name
        outside, inside = data[0].split("}:", 1)
        assert inside.startswith("${ABACO_GENERAL_DATA_DIR") and outside.startswith("${ABACO_GENERAL_DATA_DIR"), name


def test_only_the_compute_services_drive_docker_cgroups_and_host_pids():
    found = services()
    for name in ("spawner", "health"):
        assert "/var/run/docker.sock:/var/run/docker.sock" in found[name]["volumes"]
        assert "/sys/fs/cgroup:/sys/fs/cgroup:rw" in found[name]["volumes"]
        assert found[name]["pid"] == "host"
        assert not found[name].get("privileged")
    for name in ("api", "tls", "accounting", "clientg", "events", "redis", "rabbitmq"):
        assert "pid" not in found[name] and "cap_add" not in found[name], name
        assert not any("docker.sock" in v for v in found[name]["volumes"]), name
