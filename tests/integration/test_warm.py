"""Warm actors on the real stack: exact accounting per execution, OOM, a runner crash, senders apart."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import docker
import pytest

from actors import warm
from actors.sdk.client import Client

pytestmark = pytest.mark.integration

PROBE = r'''
import os, socket, sys, time
msg = os.environ.get("MSG", "")
user = os.environ.get("_abaco_username", "")
print("tmp:", " ".join(sorted(os.listdir("/tmp"))))
print("attempt:", os.environ.get("_abaco_execution_attempt"), "execution:", os.environ.get("_abaco_execution_id"))
with open("/tmp/seen-" + user, "w") as fh:
    fh.write(user)
if os.environ.get("_abaco_Content_Type") == "application/octet-stream":
    with open("/_abaco_binary_data", "rb") as fifo:
        data = fifo.read()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(data[::-1], "/_abaco_results.sock")
    print("binary bytes:", len(data))
elif msg.startswith("spin:"):
    end = time.process_time() + float(msg[5:])
    while time.process_time() < end:
        pass
elif msg == "hog":
    b = b"x" * (400 << 20)
    print(len(b))
elif msg.startswith("sleep:"):
    time.sleep(float(msg[6:]))
print("done", msg)
sys.stdout.flush()
'''


HANDLER = '''
import os
seen = []

def main():
    seen.append(os.environ["MSG"])
    print("function got", os.environ["MSG"], "as", os.environ["_abaco_username"], "seen", len(seen))
'''


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    folder = tmp_path_factory.mktemp("warm-probe")
    (folder / "probe.py").write_text(PROBE)
    (folder / "probefn.py").write_text(HANDLER)
    (folder / "Dockerfile").write_text('FROM abaco/python3:local\nCOPY probe.py /probe.py\n'
                                       'COPY probefn.py /probefn.py\nCMD ["python3", "/probe.py"]\n')
    tag = "abaco-test/warm-probe:local"
    docker.from_env().images.build(path=str(folder), tag=tag, rm=True)
    return tag


def send(platform, actor_id: str, message: str, user: str = "alice") -> dict:
    eid = platform.ok("POST", f"/actors/{actor_id}/messages", user=user, data={"message": message})["execution_id"]
    return platform.wait_execution(actor_id, eid, timeout=180, user=user)


def logs(platform, actor_id: str, ex: dict, user: str = "alice") -> str:
    return platform.ok("GET", f"/actors/{actor_id}/executions/{ex['id']}/logs", user=user)["logs"]


def container_cgroup(platform, actor_id: str, ex: dict) -> Path:
    parent = warm.parent_cgroup(platform.config.general.instance, actor_id, ex["worker_id"]).strip("/")
    return Path("/sys/fs/cgroup/cpuacct") / parent / ex["container_id"]


def test_cpu_of_warm_executions_sums_to_the_containers_total(platform, probe):
    """What the container used while serving the executions, against their per-execution figures.

    The runner's own start (once per container, before any execution) is read first and
    left out: it belongs to no execution. Everything after it, the runner's per-message
    work included, must be within 2% of the executions' sum.
    """
    actor = platform.register(probe, warm=True)
    started = send(platform, actor["id"], "hello")          # starts the warm container
    usage = container_cgroup(platform, actor["id"], started) / "cpuacct.usage"
    before = int(usage.read_text())
    runs = [send(platform, actor["id"], "spin:1.0") for _ in range(3)]
    assert all(ex["status"] == "COMPLETE" for ex in runs), runs
    assert {ex["container_id"] for ex in runs} == {started["container_id"]}, "all ran in the one warm container"
    assert all(ex["final_state"]["Warm"] for ex in runs)
    total = int(usage.read_text()) - before
    summed = sum(ex["cpu"] for ex in runs)
    print(f"per-execution CPU {[ex['cpu'] / 1e9 for ex in runs]} s, sum {summed / 1e9:.4f} s, "
          f"container {total / 1e9:.4f} s over them, gap {(total - summed) / total:.4%}; "
          f"runner start and first message {(before - started['cpu']) / 1e9:.4f} s")
    assert all(ex["cpu"] >= 1.0e9 for ex in runs)           # each spun 1.0 CPU-second, all counted
    assert summed <= total
    assert (total - summed) / total <= 0.02


def test_memory_hog_is_oom_killed_alone_and_the_next_message_runs(platform, probe):
    actor = platform.register(probe, warm=True, mem_limit="64m")
    hog = send(platform, actor["id"], "hog")
    assert hog["status"] == "ERROR", hog
    assert hog["final_state"]["OOMKilled"] is True and hog["exit_code"] == 137
    assert "OOMKilled" in hog["status_message"]
    assert hog["memory_peak"] <= 64 * 1024 * 1024
    after = send(platform, actor["id"], "hello")
    assert after["status"] == "COMPLETE", after
    assert after["container_id"] == hog["container_id"], "the runner and its container survived the OOM"
    assert "done hello" in logs(platform, actor["id"], after)


def test_runner_crash_reruns_the_message_once_in_a_new_container(platform, probe):
    actor = platform.register(probe, warm=True)
    eid = platform.ok("POST", f"/actors/{actor['id']}/messages", data={"message": "sleep:2"})["execution_id"]
    running = platform.wait_for(
        lambda: (lambda e: e if e["status"] == "RUNNING" else None)(platform.execution(actor["id"], eid)),
        timeout=120, what="the execution to run")
    first = running["container_id"]
    runner = docker.from_env().api.inspect_container(first)["State"]["Pid"]
    os.kill(runner, signal.SIGKILL)                         # the runner (the container's init) dies mid-run
    ex = platform.wait_execution(actor["id"], eid, timeout=180)
    assert ex["status"] == "COMPLETE", ex
    assert ex["attempts"] == 2
    assert "runner crashed" in ex["status_message"]
    assert ex["container_id"] != first
    text = logs(platform, actor["id"], ex)
    assert "attempt: 2" in text and "done sleep:2" in text


def test_two_senders_never_share_a_warm_container(platform, probe):
    actor = platform.register(probe, warm=True)
    platform.ok("POST", f"/actors/{actor['id']}/permissions", json={"user": "wbob", "level": "EXECUTE"})
    first = send(platform, actor["id"], "one")
    again = send(platform, actor["id"], "two")              # the legitimate use: alice's own container
    assert again["container_id"] == first["container_id"]
    assert "seen-alice" in logs(platform, actor["id"], again)
    bob = send(platform, actor["id"], "three", user="wbob")   # the attack: bob after alice
    assert bob["status"] == "COMPLETE", bob
    assert bob["container_id"] != first["container_id"]
    assert "seen-alice" not in logs(platform, actor["id"], bob, user="wbob")


def test_warm_shared_actor_serves_both_senders_in_one_container(platform, probe):
    actor = platform.register(probe, warm=True, warm_shared=True)
    platform.ok("POST", f"/actors/{actor['id']}/permissions", json={"user": "wbob", "level": "EXECUTE"})
    first = send(platform, actor["id"], "one")
    bob = send(platform, actor["id"], "two", user="wbob")
    assert bob["container_id"] == first["container_id"]
    assert "seen-alice" in logs(platform, actor["id"], bob, user="wbob")


def test_binary_messages_and_results_per_execution(platform, probe):
    actor = platform.register(probe, warm=True)
    out = []
    for payload in (b"\x00first binary", b"second"):
        eid = platform.ok("POST", f"/actors/{actor['id']}/messages", data=payload,
                          headers={"Content-Type": "application/octet-stream"})["execution_id"]
        ex = platform.wait_execution(actor["id"], eid, timeout=180)
        assert ex["status"] == "COMPLETE" and ex["has_results"], ex
        result = platform.request("GET", f"/actors/{actor['id']}/executions/{eid}/results")
        out.append((ex["container_id"], result.content))
    assert out[0][0] == out[1][0]
    assert [r for _, r in out] == [b"yranib tsrif\x00", b"dnoces"]


def test_an_image_without_python_runs_cold_and_says_so(platform):
    actor = platform.register("abaco/echo:local", warm=True)
    ex = send(platform, actor["id"], "hi")
    assert ex["status"] == "COMPLETE", ex
    assert "ran as a fresh container" in ex["status_message"]
    assert "Warm" not in ex["final_state"]


def test_force_quit_ends_the_execution_and_keeps_the_warm_container(platform, probe):
    actor = platform.register(probe, warm=True)
    eid = platform.ok("POST", f"/actors/{actor['id']}/messages", data={"message": "sleep:600"})["execution_id"]
    running = platform.wait_for(
        lambda: (lambda e: e if e["status"] == "RUNNING" else None)(platform.execution(actor["id"], eid)),
        timeout=120, what="the execution to run")
    platform.ok("DELETE", f"/actors/{actor['id']}/executions/{eid}")
    ex = platform.wait_execution(actor["id"], eid, timeout=120)
    assert "force-quit" in ex["status_message"], ex
    assert ex["exit_code"] == 143                          # SIGTERM, as a stopped container reports it
    after = send(platform, actor["id"], "hello")
    assert after["status"] == "COMPLETE" and after["container_id"] == running["container_id"]


def test_warm_function_is_called_per_message_in_a_child(platform, probe):
    actor = platform.register(probe, warm=True, warm_function="probefn:main")
    runs = [send(platform, actor["id"], m) for m in ("first", "second")]
    assert all(ex["status"] == "COMPLETE" and ex["exit_code"] == 0 for ex in runs), runs
    assert runs[0]["container_id"] == runs[1]["container_id"]
    assert logs(platform, actor["id"], runs[0]).strip() == "function got first as alice seen 1"
    assert logs(platform, actor["id"], runs[1]).strip() == "function got second as alice seen 1"
    assert all(ex["cpu"] > 0 for ex in runs)
    print(f"warm_function CPU per message: {[ex['cpu'] / 1e6 for ex in runs]} ms")


def test_a_followed_warm_execution_gets_its_whole_log_and_its_end(platform, probe):
    """Live logs of a warm execution: its output, then the end with status and exit code, the
    same as the stored log (the runner hands the output over when the execution ends)."""
    actor = platform.register(probe, warm=True)
    send(platform, actor["id"], "warm-up")       # the warm container is there now
    eid = platform.ok("POST", f"/actors/{actor['id']}/messages", data={"message": "sleep:1"})["execution_id"]
    client = Client(platform.url, platform.token("alice"))
    text, end = "", None
    for kind, value in client.follow_logs(actor["id"], eid):
        if kind == "text":
            text += value
        elif kind == "end":
            end = value
    assert end is not None and end["status"] == "COMPLETE" and end["exitCode"] == 0, end
    ex = platform.wait_execution(actor["id"], eid, timeout=60)
    assert text == logs(platform, actor["id"], ex) and "done sleep:1" in text
