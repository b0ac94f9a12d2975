"""Supervision: every platform process killed with -9 is back at once, and no message is lost.

On the private stack of tests/faults (scripts/stack.sh up: the platform processes under
supervisord), 100 messages go to an actor with two workers; while they run, each
supervised process (actors/services/__init__.py's list, then nginx as tls) is killed with
SIGKILL in turn. Each must be running again, with a new pid, within 5 s (supervisord
restarts it as soon as it exits), and afterwards every message has exactly one execution,
COMPLETE, and one accounting record. The restart times are printed (run with -s).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from faultstack import Stack, wait_for

from actors.codes import EXECUTION_TERMINAL, ExecutionStatus
from actors.process import pid_alive
from actors.services import NAMES
from actors.store import open_stores

pytestmark = pytest.mark.faults

MESSAGES = 100
BACK_WITHIN = 5.0      # seconds, the bound for a supervised restart
SUPERVISED = (*NAMES, "tls")


def program_pid(supervisord: int, name: str) -> int | None:
    """The pid of supervisord's child running program ``name``, read from /proc (asking
    supervisorctl costs a Python start-up, seconds on a busy machine, which the 5 s would
    then measure)."""
    marks = ("actors.tls_proxy", "nginx") if name == "tls" else (f"abaco-{name}",)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == supervisord and any(mark in cmdline for mark in marks) and pid_alive(int(entry.name)):
            return int(entry.name)
    return None


def kill_and_time_restart(stack: Stack, name: str) -> float:
    supervisord = int((stack.data / "pids" / "supervisord.pid").read_text())
    old = program_pid(supervisord, name)
    assert old and old == stack.pid(name), f"{name} is not running under supervisord before the kill"
    os.kill(old, signal.SIGKILL)
    killed = time.monotonic()
    wait_for(lambda: (program_pid(supervisord, name) or old) != old or None, 60, f"{name} to be restarted",
             interval=0.05)
    return time.monotonic() - killed


@pytest.mark.timeout(900)
def test_each_process_killed_is_back_within_5s_and_every_message_ends_once(stack):
    resp = stack.request("POST", "/actors", json={"image": "abaco/sleep:local", "max_workers": 2,
                                                  "default_environment": {"SLEEP_SECONDS": "0.3"}})
    assert resp.status_code == 200, resp.text
    actor = resp.json()["result"]["id"]
    wait_for(lambda: stack.request("GET", f"/actors/{actor}").json()["result"]["status"] == "READY",
             90, "the actor READY")
    assert stack.request("POST", f"/actors/{actor}/workers", json={"num": 2}).status_code == 200

    sent = []
    for n in range(MESSAGES):
        resp = stack.request("POST", f"/actors/{actor}/messages", data={"message": f"s{n}"})
        assert resp.status_code == 200, resp.text
        sent.append(resp.json()["result"]["execution_id"])

    stores = open_stores(stack.config)
    restarts: dict[str, float] = {}
    running_during_kills = 0
    for name in SUPERVISED:
        restarts[name] = kill_and_time_restart(stack, name)
        running_during_kills += sum(
            1 for e in sent if (stores.executions.find(e) or {}).get("status") == ExecutionStatus.RUNNING)
        time.sleep(1.0)
    for name, seconds in restarts.items():
        print(f"supervision: {name} back after kill -9 in {seconds:.2f} s")

    def all_ended():
        return all((stores.executions.find(e) or {}).get("status") in EXECUTION_TERMINAL for e in sent) or None
    wait_for(all_ended, 420, "every message to end", interval=1)
    wait_for(lambda: all((stores.accounting.find(e) or {}).get("written") for e in sent) or None,
             120, "an accounting record for every execution", interval=1)

    executions = {doc["id"]: doc for doc in stores.executions.group_docs(actor)}
    assert sorted(executions) == sorted(sent), "an execution was lost or one ran twice"
    assert all(executions[e]["status"] == ExecutionStatus.COMPLETE for e in sent), \
        {e: executions[e]["status_message"] for e in sent if executions[e]["status"] != ExecutionStatus.COMPLETE}
    assert running_during_kills > 0, "the kills came after the messages had all run"
    slow = {name: round(s, 2) for name, s in restarts.items() if s > BACK_WITHIN}
    assert not slow, f"not back within {BACK_WITHIN} s: {slow}"
    assert stack.request("GET", f"/actors/{actor}").status_code == 200
