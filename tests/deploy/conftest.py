"""Fixtures of the deployment tests (tests/deploy): the images of the compose stack."""

from __future__ import annotations

import subprocess

import pytest
from deploy_helpers import REPO


@pytest.fixture(scope="session")
def compose_images():
    """abaco/core:local, abaco/redis:local and abaco/rabbitmq:local, built by the project's own
    script (at once when they are up to date; RabbitMQ's base takes minutes the first time)."""
    proc = subprocess.run([str(REPO / "images" / "deploy.sh"), "all"], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout + proc.stderr
