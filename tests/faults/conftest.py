"""The one private stack every test in tests/faults breaks (they run in file order)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import docker
import pytest
from faultstack import Stack, kill_node

from actors import auth
from actors import config as config_mod
from actors.runtime import cgroups


@pytest.fixture(scope="session")
def stack():
    # Not under pytest's 0700 temporary directory: RabbitMQ runs as its own user.
    data = Path(tempfile.mkdtemp(prefix="abaco-faults-"))
    data.chmod(0o755)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400m,mode=755", "tmpfs", str(data)], check=True)
    st = Stack(data)
    try:
        st.sh("up")
        st.config = config_mod.load(environ=st.env)   # with the credentials `up` made
        st.token = auth.issue_token(st.config, "fault-user", "user")
        yield st
    finally:
        try:
            st.sh("down")
        finally:
            # Keep the logs for a look after a failure (the tmpfs goes away).
            keep = Path(tempfile.gettempdir()) / "abaco-faults-logs"
            subprocess.run(["rm", "-rf", str(keep)], check=False)
            subprocess.run(["cp", "-r", str(data / "logs"), str(keep)], check=False)
            subprocess.run(["cp", "-r", str(data / "rabbitmq" / "log"), str(keep / "rabbitmq")], check=False)
            for c in docker.from_env().containers.list(
                    all=True, filters={"label": f"abaco.instance={st.config.general.instance}"}):
                c.remove(force=True)
            cgroups.remove(f"/{st.config.general.instance}")
            # A RabbitMQ node that a failed restart left behind must not outlive the test.
            kill_node(f"{st.config.general.instance}@localhost")
            subprocess.run(["umount", "-l", str(data)], check=False)
            data.rmdir()


