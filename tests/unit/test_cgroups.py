"""cgroup figures parsed from a made-up hierarchy (the real one is used by the integration tests)."""

from pathlib import Path

from actors.runtime import cgroups


def make_v1(root: Path, rel: str) -> None:
    for ctl in ("cpuacct", "memory", "blkio", "pids"):
        (root / ctl / rel).mkdir(parents=True)
    (root / "cpuacct" / rel / "cpuacct.usage").write_text("123456789\n")
    (root / "cpuacct" / rel / "cpuacct.stat").write_text("user 3\nsystem 1\n")
    (root / "memory" / rel / "memory.max_usage_in_bytes").write_text("4096\n")
    (root / "blkio" / rel / "blkio.throttle.io_service_bytes_recursive").write_text(
        "8:0 Read 100\n8:0 Write 50\n8:0 Sync 150\n8:0 Total 150\nTotal 150\n")
    (root / "pids" / rel / "cgroup.procs").write_text(f"{__import__('os').getpid()}\n")


def test_v1_usage(tmp_path):
    rel = cgroups.execution_path("abaco", "act", "ex")
    make_v1(tmp_path, rel.strip("/"))
    assert cgroups.version(tmp_path) == 1
    usage = cgroups.read_usage(rel, tmp_path)
    assert (usage.cpu_ns, usage.memory_peak, usage.io_bytes) == (123456789, 4096, 150)
    assert usage.cpu_user_ns == 123456789 * 3 // 4 and usage.cpu_user_ns + usage.cpu_system_ns == usage.cpu_ns
    assert cgroups.pids(rel, tmp_path) == [__import__("os").getpid()]
    assert cgroups.children("/abaco/act", tmp_path) == ["ex"]


def test_v2_usage(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpu memory io pids\n")
    d = tmp_path / "abaco" / "act" / "ex"
    d.mkdir(parents=True)
    (d / "cpu.stat").write_text("usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n")
    (d / "memory.peak").write_text("8192\n")
    (d / "io.stat").write_text("8:0 rbytes=10 wbytes=20 rios=1 wios=2\n")
    usage = cgroups.read_usage("/abaco/act/ex", tmp_path)
    assert (usage.cpu_ns, usage.memory_peak, usage.io_bytes) == (2_500_000, 8192, 30)
    assert (usage.cpu_user_ns, usage.cpu_system_ns) == (2_000_000, 500_000)


def test_every_mounted_hierarchy_is_found_named_ones_too(tmp_path):
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
        "31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
        "32 30 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n"
        "35 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "40 25 0:40 / /elsewhere rw - cgroup cgroup rw,pids\n")
    found = cgroups.hierarchies(Path("/sys/fs/cgroup"), str(mountinfo))
    assert [str(p) for p in found] == ["/sys/fs/cgroup/memory", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"]


def test_remove_takes_a_cgroup_out_of_every_hierarchy(tmp_path):
    for name in ("memory", "systemd", "unified"):
        (tmp_path / name / "abaco" / "act" / "ex" / "containerid").mkdir(parents=True)
    assert cgroups.children("/abaco/act", tmp_path) == ["ex"]
    assert cgroups.remove("/abaco/act/ex", tmp_path)
    assert cgroups.children("/abaco/act", tmp_path) == []
    assert all((tmp_path / name / "abaco" / "act").is_dir() for name in ("memory", "systemd", "unified"))


def test_missing_cgroup_reads_as_zero(tmp_path):
    usage = cgroups.read_usage("/nope", tmp_path)
    assert (usage.cpu_ns, usage.memory_peak, usage.io_bytes) == (0, 0, 0)


def test_process_io_of_this_process_is_readable():
    assert cgroups.process_io_bytes([__import__("os").getpid()]) >= 0
