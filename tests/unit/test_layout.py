"""The package's layout promises: the API process loads no container code."""

from __future__ import annotations

import subprocess
import sys

import actors.api
from actors.services import PROCESSES

PROBE = """
import sys
from actors.api import create_app
from actors.api import (accounting, actors, aliases, configs, executions, messages, metrics, nonces,
                        oauth2, openapi, permissions, search, state, workers)
loaded = sorted(m for m in sys.modules
                if m.split(".")[0] == "docker" or m.startswith(("actors.runtime", "actors.execution", "actors.services.")))
print(",".join(loaded))
"""


def test_the_api_imports_no_docker_cgroup_or_process_code():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_every_process_has_a_console_script_with_main():
    import importlib
    from importlib.metadata import entry_points
    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    for process in PROCESSES:
        module, _, func = scripts[process.command].partition(":")
        assert module == f"actors.services.{process.name}" and func == "main"
        assert callable(importlib.import_module(module).main)
    assert actors.api.create_app
