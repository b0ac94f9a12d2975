"""Limits: resolution from config and actor, who may raise them, and writing them to cgroups."""

from pathlib import Path

import pytest

from actors import config as config_mod
from actors import limits
from actors.auth import Identity
from actors.errors import ForbiddenError
from actors.runtime import cgroups
from actors.runtime.cgroups import CgroupTree, Limits


def cfg(**values):
    return config_mod.load(environ={}).replace(limits=values)


def test_actor_values_override_defaults():
    c = cfg(memory_max="1g", pids_max="100", cpu_seconds="60")
    lim, budget = limits.for_execution(c, {"mem_limit": "256m", "max_cpus": 500_000_000, "max_run_time": 30})
    assert lim.memory_max == 256 << 20 and lim.cpu_quota == 0.5 and lim.pids_max == 100
    assert budget.cpu_seconds == 60 and budget.max_run_time == 30
    lim, budget = limits.for_execution(c, {})
    assert lim.memory_max == 1 << 30 and lim.cpu_quota == c.limits.cpu_quota == 1.0


def test_limited_users_get_the_small_quotas_whichever_is_tighter():
    c = cfg(memory_max="1g", pids_max="100", limited_memory_max="512m", limited_cpu_quota="0.5",
            limited_pids_max="256", limited_max_run_time="600")
    lim, budget = limits.for_execution(c, {"owner_role": "limited"})
    assert lim.memory_max == 512 << 20 and lim.cpu_quota == 0.5 and lim.pids_max == 100
    assert budget.max_run_time == 600
    lim, budget = limits.for_execution(c, {"owner_role": "limited", "mem_limit": "64m", "max_run_time": 30})
    assert lim.memory_max == 64 << 20 and budget.max_run_time == 30
    lim, budget = limits.for_execution(c, {"owner_role": "user"})
    assert lim.memory_max == 1 << 30 and lim.cpu_quota == 1.0 and budget.max_run_time == 0


def test_only_privileged_users_raise_limits():
    c = cfg(memory_max="1g", pids_max="100")
    user, boss = Identity("u", "user"), Identity("b", "privileged")
    limits.check_request(c, user, {"mem_limit": "512m", "pids_max": 50})
    for fields in ({"mem_limit": "2g"}, {"pids_max": 101}):
        with pytest.raises(ForbiddenError):
            limits.check_request(c, user, fields)
        limits.check_request(c, boss, fields)
    limits.check_request(c, user, {"cpu_seconds": 1000})     # no default: anything is lower


def test_sizes():
    assert cgroups.parse_size("512m") == 512 << 20 and cgroups.parse_size("2G") == 2 << 30
    assert cgroups.parse_size("") == 0 and cgroups.parse_size(1234) == 1234
    with pytest.raises(ValueError):
        cgroups.parse_size("lots")


def fake_v1(root: Path) -> None:
    for ctl, files in {"memory": ["memory.limit_in_bytes"], "cpu": ["cpu.cfs_period_us", "cpu.cfs_quota_us",
                                                                   "cpu.shares"],
                       "pids": ["pids.max"], "cpuacct": [], "blkio": ["blkio.weight"]}.items():
        (root / ctl).mkdir(parents=True)
        # The kernel creates the knob files in every new cgroup; imitate that for the leaf.
        leaf = root / ctl / "i" / "a" / "e"
        leaf.mkdir(parents=True)
        for name in files:
            (leaf / name).write_text("0\n")


def test_v1_writes_and_reports_unsupported_knobs_once(tmp_path, caplog):
    fake_v1(tmp_path)
    tree = CgroupTree(tmp_path, io_device="8:0")
    lim = Limits(memory_max=64 << 20, cpu_quota=0.25, cpu_weight=200, pids_max=30, io_weight=300,
                 memory_high=1 << 20, io_write_bps=1000)
    missing = tree.create("/i/a/e", lim)
    def leaf(ctl, name):
        return (tmp_path / ctl / "i/a/e" / name).read_text()
    assert leaf("memory", "memory.limit_in_bytes") == str(64 << 20)
    assert leaf("cpu", "cpu.cfs_quota_us") == "25000" and leaf("cpu", "cpu.cfs_period_us") == "100000"
    assert leaf("cpu", "cpu.shares") == "2048" and leaf("pids", "pids.max") == "30"
    assert leaf("blkio", "blkio.weight") == "300"
    assert set(missing) == {"memory_high", "io_write_bps"}
    tree.create("/i/a/e", lim)
    assert sum("memory_high" in r.message for r in caplog.records) == 1


def test_v2_enables_controllers_and_writes(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids io\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    tree = CgroupTree(tmp_path, io_device="8:0")
    leaf = tmp_path / "i" / "a"
    leaf.mkdir(parents=True)
    (tmp_path / "i" / "cgroup.controllers").write_text("cpu memory pids io\n")
    (tmp_path / "i" / "cgroup.subtree_control").write_text("")
    for name in ("memory.max", "memory.high", "cpu.max", "pids.max", "io.weight", "io.max"):
        (leaf / name).write_text("")
    missing = tree.create("/i/a", Limits(memory_max=100, memory_high=90, cpu_quota=1.5, pids_max=7,
                                         io_weight=50, io_read_bps=10))
    assert missing == []
    assert (leaf / "cpu.max").read_text() == "150000 100000"
    assert (leaf / "memory.high").read_text() == "90" and (leaf / "pids.max").read_text() == "7"
    assert (leaf / "io.weight").read_text() == "default 50" and (leaf / "io.max").read_text() == "8:0 rbps=10"
    assert (tmp_path / "cgroup.subtree_control").read_text().startswith("+")


def test_applied_lists_only_set_limits():
    assert Limits(pids_max=5).applied() == {"pids_max": 5}
    assert Limits(cpu_quota=0.5).applied() == {"cpu_quota": 0.5, "cpu_period_us": 100000}
