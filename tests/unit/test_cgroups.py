"""cgroup figures parsed from a made-up hierarchy (the real one is used by the integration tests)."""

from pathlib import Path

from actors.runtime import cgroups


def make_v1(root: Path, rel: str) -> None:
    for ctl in ("cpuacct", "memory", "blkio", "pids"):
        (root / ctl / rel).mkdir(parents=True)
    (root / "cpuacct" / rel / "cpuacct.usage").write_text("123456789\n")
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


def test_missing_cgroup_reads_as_zero(tmp_path):
    usage = cgroups.read_usage("/nope", tmp_path)
    assert (usage.cpu_ns, usage.memory_peak, usage.io_bytes) == (0, 0, 0)


def test_process_io_of_this_process_is_readable():
    assert cgroups.process_io_bytes([__import__("os").getpid()]) >= 0
