"""Limits and accounting figures on this machine's real cgroups."""

from __future__ import annotations

import docker
import pytest

from actors.runtime import cgroups

pytestmark = pytest.mark.integration


def build(tmp_path, tag: str, base: str, cmd: str, files: dict[str, str] | None = None) -> str:
    for name, text in (files or {}).items():
        (tmp_path / name).write_text(text)
    copies = "".join(f"COPY {name} /{name}\n" for name in (files or {}))
    (tmp_path / "Dockerfile").write_text(f"FROM {base}\n{copies}CMD {cmd}\n")
    docker.from_env().images.build(path=str(tmp_path), tag=tag, rm=True)
    return tag


SPIN = "import sys, time\nend = time.time() + float(sys.argv[1])\nwhile time.time() < end:\n    pass\nprint('spun')\n"


@pytest.fixture(scope="module")
def spinner(tmp_path_factory):
    return build(tmp_path_factory.mktemp("spin"), "abaco-test/spin:local", "abaco/python3:local",
                 '["python3", "/spin.py", "3"]', {"spin.py": SPIN})


def run(platform, image, message="go", **fields):
    actor = platform.register(image, **fields)
    eid = platform.ok("POST", f"/actors/{actor['id']}/messages", data={"message": message})["execution_id"]
    return actor, platform.wait_execution(actor["id"], eid, timeout=120)


def test_memory_hog_is_oom_killed_at_its_limit(platform, tmp_path):
    image = build(tmp_path, "abaco-test/memhog:local", "abaco/python3:local",
                  '["python3", "-c", "b = b\'x\' * (400 << 20); print(len(b))"]')
    actor, ex = run(platform, image, mem_limit="64m")
    assert ex["status"] == "ERROR", ex
    assert ex["final_state"]["OOMKilled"] is True
    assert "OOMKilled" in ex["status_message"]
    assert ex["exit_code"] == 137
    assert ex["memory_peak"] <= 64 * 1024 * 1024
    assert ex["limits"]["memory_max"] == 64 * 1024 * 1024


def test_cpu_spinner_under_a_fifth_of_a_cpu(platform, spinner):
    actor, ex = run(platform, spinner, max_cpus=200_000_000)       # 0.2 CPU in nano-CPUs
    assert ex["status"] == "COMPLETE", ex
    share = ex["cpu"] / 1e9 / ex["runtime"]
    print(f"cpu {ex['cpu'] / 1e9:.3f} s over {ex['runtime']:.3f} s = {share:.3f} CPU")
    assert 0.12 < share < 0.3, share
    assert ex["limits"]["cpu_quota"] == 0.2


def test_cpu_budget_kills_and_says_why(platform, tmp_path):
    image = build(tmp_path, "abaco-test/spin30:local", "abaco/python3:local",
                  '["python3", "/spin.py", "30"]', {"spin.py": SPIN})
    actor, ex = run(platform, image, cpu_seconds=1)
    assert ex["status"] == "ERROR", ex
    assert "budget" in ex["status_message"]
    assert 1.0 <= ex["cpu"] / 1e9 < 3.5
    assert ex["runtime"] < 10


def test_max_run_time_kills(platform):
    actor, ex = run(platform, "abaco/sleep:local", default_environment={"SLEEP_SECONDS": "60"}, max_run_time=2)
    assert ex["status"] == "ERROR" and "max_run_time" in ex["status_message"], ex
    assert ex["runtime"] < 8


FORKS = """import os, time
children, refused = 0, 0
for _ in range(300):
    try:
        pid = os.fork()
    except BlockingIOError:
        refused += 1
        continue
    if pid == 0:
        time.sleep(3)
        os._exit(0)
    children += 1
print(f"children {children} refused {refused}", flush=True)
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
"""


def test_fork_bomb_is_stopped_by_pids_max(platform, tmp_path):
    image = build(tmp_path, "abaco-test/forks:local", "abaco/python3:local", '["python3", "/forks.py"]',
                  {"forks.py": FORKS})
    actor, ex = run(platform, image, pids_max=20)
    assert ex["status"] == "COMPLETE", ex
    logs = platform.ok("GET", f"/actors/{actor['id']}/executions/{ex['id']}/logs")["logs"]
    children, refused = (int(w) for w in logs.split()[1::2])
    assert children < 20 and refused > 280, logs
    assert 0 < ex["pids_peak"] <= 20


def test_io_bytes_of_a_container_that_writes_a_file(platform, tmp_path):
    script = "dd if=/dev/zero of=/tmp/f bs=1M count=40 conv=fsync; sleep 2"
    image = build(tmp_path, "abaco-test/writer:local", "abaco/busybox:local", f'["sh", "-c", "{script}"]')
    actor, ex = run(platform, image)
    assert ex["status"] == "COMPLETE", ex
    assert ex["io"] >= 40 * 1024 * 1024, ex["io"]


def test_io_is_exact_for_a_writer_that_exits_within_a_second(platform, tmp_path):
    """Sampling /proc once a second missed it (io was 0); the kernel's exit records do not."""
    script = "dd if=/dev/zero of=/tmp/f bs=1M count=20 conv=fsync 2>/dev/null"
    image = build(tmp_path, "abaco-test/quickwriter:local", "abaco/busybox:local", f'["sh", "-c", "{script}"]')
    actor, ex = run(platform, image)
    assert ex["status"] == "COMPLETE" and ex["runtime"] < 1.5, ex
    assert ex["io_exact"] is True
    assert 20 * 2**20 <= ex["io"] < 22 * 2**20, ex["io"]


def test_execution_cgroups_are_removed_and_limits_recorded(platform):
    actor, ex = run(platform, "abaco/echo:local", pids_max=50)
    assert ex["limits"]["pids_max"] == 50
    path = cgroups.execution_path(platform.config.general.instance, actor["id"], ex["id"])
    root = cgroups.ROOT / "pids" if cgroups.version() == 1 else cgroups.ROOT
    # Removed right after the record is written (the container goes first).
    platform.wait_for(lambda: not (root / path.strip("/")).exists(), timeout=15, what="cgroup removed")


def test_no_execution_cgroup_is_left_in_any_hierarchy_after_200_executions(platform):
    """Docker makes each container's cgroup in every mounted hierarchy, named ones too (systemd,
    and the cgroup2 `unified` mount of a hybrid host): none of them may keep an execution's."""
    actor = platform.register("abaco/echo:local", max_workers=4)
    platform.ok("POST", f"/actors/{actor['id']}/workers", json={"num": 4})
    ids = [platform.ok("POST", f"/actors/{actor['id']}/messages", data={"message": f"m{n}"})["execution_id"]
           for n in range(200)]

    def finished():
        docs = platform.ok("GET", f"/actors/{actor['id']}/executions?limit=1000")["executions"]
        return sum(1 for e in docs if e["status"] in ("COMPLETE", "ERROR")) == len(ids)
    platform.wait_for(finished, timeout=400, interval=1, what="200 executions to finish")
    actor_path = cgroups.actor_path(platform.config.general.instance, actor["id"])
    hierarchies = cgroups.hierarchies()
    assert len(hierarchies) >= 2 and all(h.is_dir() for h in hierarchies)

    def left() -> dict:
        return {str(h): sorted(p.name for p in (h / actor_path.strip("/")).glob("*") if p.is_dir())
                for h in hierarchies if (h / actor_path.strip("/")).is_dir()}
    platform.wait_for(lambda: not any(left().values()), timeout=30, what="every execution cgroup to go")


def test_plain_users_cannot_raise_limits_above_defaults(platform):
    resp = platform.request("POST", "/actors", json={"image": "abaco/echo:local", "pids_max": 100000})
    assert resp.status_code == 403 and "pids_max" in resp.json()["message"]
    resp = platform.request("POST", "/actors", user="boss", role="privileged",
                            json={"image": "abaco/echo:local", "pids_max": 100000})
    assert resp.status_code == 200
    platform.ok("DELETE", f"/actors/{resp.json()['result']['id']}", user="boss", role="privileged")


def _controller_dir(path: str, controller: str):
    base = cgroups.ROOT / controller if cgroups.version() == 1 else cgroups.ROOT
    return base / path.strip("/")


def test_actor_level_carries_the_quota_and_executions_sit_below_it(platform):
    tree = cgroups.CgroupTree()
    actor = cgroups.actor_path("qt" + platform.config.general.instance, "actorq")
    execution = cgroups.execution_path("qt" + platform.config.general.instance, "actorq", "exq")
    try:
        assert tree.create(actor, cgroups.Limits(memory_max=64 * 2**20, cpu_quota=0.5, pids_max=20)) == []
        assert tree.create(execution, cgroups.Limits(memory_max=32 * 2**20, pids_max=10)) == []
        if cgroups.version() == 1:
            assert _controller_dir(actor, "memory").joinpath("memory.limit_in_bytes").read_text().strip() \
                == str(64 * 2**20)
            assert _controller_dir(actor, "cpu").joinpath("cpu.cfs_quota_us").read_text().strip() == "50000"
            assert _controller_dir(actor, "pids").joinpath("pids.max").read_text().strip() == "20"
            assert _controller_dir(execution, "pids").joinpath("pids.max").read_text().strip() == "10"
        else:
            assert _controller_dir(actor, "").joinpath("memory.max").read_text().strip() == str(64 * 2**20)
            assert _controller_dir(actor, "").joinpath("cpu.max").read_text().split()[0] == "50000"
            assert _controller_dir(execution, "").joinpath("pids.max").read_text().strip() == "10"
        assert cgroups.children(actor) == ["exq"]
    finally:
        assert cgroups.remove("/qt" + platform.config.general.instance)
    assert not _controller_dir(actor, "pids").exists()


def test_health_removes_leftover_cgroups_and_the_deleted_actors_tree(platform):
    actor, ex = run(platform, "abaco/echo:local")
    instance = platform.config.general.instance
    # What a worker killed between creating a cgroup and recording its execution leaves.
    ghost = cgroups.execution_path(instance, actor["id"], "ghost-execution")
    cgroups.CgroupTree().create(ghost, cgroups.Limits(pids_max=5))
    assert _controller_dir(ghost, "pids").exists()
    platform.wait_for(lambda: not _controller_dir(ghost, "pids").exists(), timeout=30,
                      what="health to remove the leftover cgroup")
    actor_dir = _controller_dir(cgroups.actor_path(instance, actor["id"]), "pids")
    assert actor_dir.exists()
    platform.ok("DELETE", f"/actors/{actor['id']}")
    platform.wait_for(lambda: not actor_dir.exists(), timeout=30, what="the deleted actor's cgroup to go")
