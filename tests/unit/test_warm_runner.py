"""Warm actors' decisions (actors/warm.py) and the runner's protocol (actors/warm_runner.py).

The runner is driven over a real socket pair and forks real children (no service needed);
the decisions are plain functions.
"""

from __future__ import annotations

import base64
import os
import socket
import sys
import threading

import pytest

from actors import fields, warm, warm_runner
from actors.errors import BadRequestError

# ---------------------------------------------------------------- who shares a container


def test_each_sender_has_a_container_of_its_own_unless_shared():
    assert warm.pool_key({"warm": True}, "alice") == "alice"
    assert warm.pool_key({"warm": True}, "bob") == "bob"
    assert warm.pool_key({"warm": True, "warm_shared": True}, "alice") == warm.SHARED
    assert warm.pool_key({"warm": True, "warm_shared": True}, "bob") == warm.SHARED


def test_run_as_executor_never_shares_even_when_asked():
    # each sender's UID differs, so a shared container would run one sender as another
    actor = {"warm": True, "warm_shared": True, "run_as_executor": True}
    assert warm.pool_key(actor, "alice") != warm.pool_key(actor, "bob")


def test_replacement_reasons():
    ok = dict(key="alice", executions=3, idle=1.0, wanted_key="alice", limit=10, idle_limit=300, alive=True)
    assert warm.replace_reason(**ok) is None
    assert "another sender" in warm.replace_reason(**{**ok, "wanted_key": "bob"})
    assert "warm_max_executions" in warm.replace_reason(**{**ok, "executions": 10})
    assert "idle" in warm.replace_reason(**{**ok, "idle": 301.0})
    assert "runner is gone" in warm.replace_reason(**{**ok, "alive": False})
    assert warm.replace_reason(**{**ok, "idle": 10_000.0, "idle_limit": 0}) is None   # 0: no idle limit


def test_max_executions_is_the_actors_within_the_configured_cap(config):
    cap = config.workers.warm_max_executions
    assert warm.max_executions(config, {}) == cap
    assert warm.max_executions(config, {"warm_max_executions": 5}) == 5
    assert warm.max_executions(config, {"warm_max_executions": cap + 1000}) == cap


def test_warm_fields_are_checked_like_every_other_field():
    assert fields.BY_NAME["warm"].default is False and fields.BY_NAME["warm_shared"].default is False
    with pytest.raises(BadRequestError):
        fields.validate({"image": "abaco/echo:local", "warm": "maybe"})
    with pytest.raises(BadRequestError):
        fields.validate({"image": "abaco/echo:local", "warm_max_executions": 0})


def test_warm_cgroups_are_told_apart_from_execution_cgroups():
    parent = warm.parent_cgroup("inst", "actor1", "w1")
    assert parent == "/inst/actor1/warm-w1"
    assert warm.worker_of(parent.rsplit("/", 1)[1]) == "w1"
    assert warm.worker_of("K3xExecutionId") is None


# ---------------------------------------------------------------- host pids


STATUS = "Name:\tpython3\nPid:\t{host}\nNSpid:\t{host}\t{inner}\nPPid:\t1\n"


def test_host_pid_is_found_by_the_pid_in_the_container():
    statuses = {100: STATUS.format(host=100, inner=1), 101: STATUS.format(host=101, inner=7)}
    assert warm.host_pid(7, [100, 101], lambda p: statuses[p]) == 101
    assert warm.host_pid(9, [100, 101], lambda p: statuses[p]) is None


def test_host_pid_ignores_processes_of_the_host_namespace_and_vanished_ones():
    def status_of(pid):
        if pid == 5:
            raise FileNotFoundError(pid)
        return "Name:\tx\nNSpid:\t7\n"          # a host process whose own pid happens to be 7
    assert warm.host_pid(7, [5, 7], status_of) is None


# ---------------------------------------------------------------- the channel


def test_channel_reads_lines_and_notices_a_closed_runner():
    a, b = socket.socketpair()
    channel = warm.Channel(a)
    b.sendall(b'{"child": 3}\n{"exit"')
    assert channel.receive(1) == {"child": 3}
    assert channel.receive(0.05) is None                  # half a line: not yet
    b.sendall(b': 0}\n')
    assert channel.receive(1) == {"exit": 0}
    assert channel.idle_ok()
    b.close()
    assert not channel.idle_ok()
    with pytest.raises(warm.RunnerCrashed):
        channel.receive(1)


# ---------------------------------------------------------------- the runner


def test_exit_codes_as_docker_reports_them():
    assert warm_runner.exit_code(0) == 0
    assert warm_runner.exit_code(3 << 8) == 3
    assert warm_runner.exit_code(9) == 137                # killed by SIGKILL


def test_log_capture_keeps_the_first_bytes_and_says_it_cut():
    cap = warm_runner.LogCapture(5)
    cap.add(b"abc")
    cap.add(b"defgh")
    cap.add(b"more")
    assert cap.text() == b"abcde" and cap.truncated


def test_fingerprint_sees_new_entries_outside_tmp_only(tmp_path):
    for name in ("etc", "tmp", "var/tmp", "dev/shm"):
        (tmp_path / name).mkdir(parents=True)
    before = warm_runner.fingerprint(str(tmp_path))
    (tmp_path / "tmp" / "scratch").write_text("kept for the same sender")
    assert warm_runner.changes(before, warm_runner.fingerprint(str(tmp_path))) == []
    (tmp_path / "etc" / "new").write_text("x")
    os.utime(tmp_path / "etc", ns=(1, 1))                 # mtimes may not move within a tick
    (tmp_path / "dev" / "shm" / "segment").write_text("x")
    changed = warm_runner.changes(before, warm_runner.fingerprint(str(tmp_path)))
    assert str(tmp_path / "etc") in changed and "/dev/shm" in changed


class RunnerPeer:
    """The worker's side of the protocol against a real Runner in a thread."""

    def __init__(self, root):
        worker_end, runner_end = socket.socketpair()
        self.channel = warm.Channel(worker_end)
        self.runner = warm_runner.Runner(runner_end, root=str(root))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        assert self.channel.receive(5)["ready"]

    def _serve(self):
        try:
            self.runner.serve()
        except (EOFError, OSError):
            pass

    def run(self, argv, env=None, go=True, log_limit=1 << 20):
        self.channel.send({"run": {"argv": argv, "env": env or {}, "cwd": "/", "log_limit": log_limit}})
        child = self.channel.receive(5)["child"]
        assert child > 0
        self.channel.send({"go": True} if go else {"abort": "no cgroup"})
        return self.channel.receive(30)


def test_runner_runs_each_message_in_a_child_with_its_environment(tmp_path):
    peer = RunnerPeer(tmp_path)
    report = peer.run([sys.executable, "-c", "import os, sys; print(os.environ['MSG']); sys.exit(3)"],
                      env={"MSG": "hello"})
    assert report["exit"] == 3 and not report["aborted"]
    assert base64.b64decode(report["log"]) == b"hello\n"
    report = peer.run([sys.executable, "-c", "import os; print(os.environ.get('MSG'))"])
    assert base64.b64decode(report["log"]) == b"None\n"   # nothing of the last message is left


def test_runner_reports_a_killed_child_and_a_command_that_cannot_run(tmp_path):
    peer = RunnerPeer(tmp_path)
    report = peer.run([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])
    assert report["exit"] == 137
    report = peer.run(["/no/such/command"])
    assert report["exit"] == 127 and b"cannot run" in base64.b64decode(report["log"])


def test_runner_cuts_logs_and_a_child_without_go_never_runs(tmp_path):
    peer = RunnerPeer(tmp_path)
    report = peer.run([sys.executable, "-c", "print('x' * 100000)"], log_limit=10)
    assert base64.b64decode(report["log"]) == b"x" * 10 and report["truncated"]
    marker = tmp_path / "ran"
    report = peer.run([sys.executable, "-c", f"open({str(marker)!r}, 'w')"], go=False)
    assert report["aborted"] and report["exit"] == 125 and not marker.exists()


HANDLERS = '''
import os, sys
calls = []

def main():
    calls.append(os.environ["MSG"])
    print("calls", len(calls), "msg", os.environ["MSG"], "stale", os.environ.get("ONLY_FIRST"))

def stop():
    sys.exit(3)

def fail():
    raise ValueError("no good")
'''


def test_runner_calls_a_warm_function_in_a_child_per_message(tmp_path, monkeypatch):
    (tmp_path / "warm_handlers_t.py").write_text(HANDLERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    peer = RunnerPeer(tmp_path)

    def call(ref, env):
        peer.channel.send({"run": {"argv": [], "env": env, "cwd": "/", "log_limit": 4096, "function": ref}})
        peer.channel.receive(5)
        peer.channel.send({"go": True})
        report = peer.channel.receive(30)
        return report["exit"], base64.b64decode(report["log"]).decode()

    assert call("warm_handlers_t:main", {"MSG": "one", "ONLY_FIRST": "x"}) == (0, "calls 1 msg one stale x\n")
    # the first call's list and environment stayed in its child
    assert call("warm_handlers_t:main", {"MSG": "two"}) == (0, "calls 1 msg two stale None\n")
    assert call("warm_handlers_t:stop", {})[0] == 3
    code, text = call("warm_handlers_t:fail", {})
    assert code == 1 and "ValueError: no good" in text
    code, text = call("warm_handlers_t:missing", {})
    assert code == 1 and "AttributeError" in text


def test_warm_function_must_name_a_module_and_a_function():
    assert fields.validate({"image": "abaco/python3:local", "warm_function": "pkg.mod:main"})["warm_function"]
    for bad in ("main", "pkg.mod:", "os:system; rm", "../x:y"):
        with pytest.raises(BadRequestError):
            fields.validate({"image": "abaco/python3:local", "warm_function": bad})
