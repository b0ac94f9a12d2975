"""Exact storage I/O from taskstats on this machine's kernel and Docker engine (needs root)."""

from __future__ import annotations

import os
import secrets
import subprocess
import threading
import time
from pathlib import Path

import pytest

from actors.runtime.taskio import Listener, TaskIO

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
IMAGE = "abaco/busybox:local"
SLACK = MiB          # metadata pages a task may dirty besides its data (ext4, overlayfs)


def dd(path: str, mib: int) -> str:
    return f"dd if=/dev/zero of={path} bs=1M count={mib} conv=fsync 2>/dev/null"


@pytest.fixture(scope="module")
def collector():
    # The suite runs as root beside the Docker engine (make test): a missing taskstats is a
    # failure to see, not a reason to pass quietly.
    assert os.geteuid() == 0, "taskstats needs root; run the suite as `make test` does"
    col = TaskIO.start()
    assert col.available, f"the kernel's taskstats is not available: {col.error}"
    yield col
    col.close()


@pytest.fixture(scope="module")
def client():
    import docker
    cli = docker.from_env()
    cli.images.get(IMAGE)          # built by `make images`; a missing one fails here, loudly
    return cli


def cgroup_mounts() -> list[Path]:
    """Mount points of every cgroup (v1) and cgroup2 hierarchy."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        fstype = fields[fields.index("-") + 1]
        if fstype in ("cgroup", "cgroup2"):
            found.append(Path(fields[4]))
    return found


@pytest.fixture
def test_root():
    """A top-level cgroup name of our own; every directory under it is removed afterwards."""
    name = f"abacotest-{secrets.token_hex(4)}"
    yield f"/{name}"
    for mount in cgroup_mounts():
        top = mount / name
        if not top.is_dir():
            continue
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda w: -len(w[0])):
            for _attempt in range(50):
                try:
                    os.rmdir(dirpath)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)        # the engine may still be tearing the container down
        assert not top.exists(), f"cgroup {top} left behind"


def test_exit_records_do_not_include_reaped_children(collector, tmp_path):
    """A parent's per-process counters include its reaped child, its taskstats record does not.

    So summing records counts every byte once. /proc/self/io of this process grows by the
    dd's bytes once the shell is reaped (signal accounting), while the shell's own exit
    record carries none of them.
    """
    records = []
    listener = Listener(records.append, lambda: records.append("overflow"))
    try:
        def written():
            for line in Path("/proc/self/io").read_text().splitlines():
                if line.startswith("write_bytes:"):
                    return int(line.split()[1])
        before = written()
        shell = subprocess.Popen(["sh", "-c", f"{dd(str(tmp_path / 'x'), 4)}; exit 0"])
        shell.wait()
        assert listener.barrier()
    finally:
        listener.close()
    assert "overflow" not in records
    own = [r for r in records if r.pid == shell.pid]
    child = [r for r in records if r.ppid == shell.pid]
    assert len(own) == 1 and len(child) == 1 and child[0].comm == "dd"
    print(f"shell record {own[0].write_bytes} B, dd record {child[0].write_bytes} B, "
          f"/proc/self/io grew {written() - before} B")
    assert 4 * MiB <= child[0].write_bytes < 4 * MiB + SLACK
    assert own[0].write_bytes < 64 * 1024
    assert written() - before >= 4 * MiB          # the reaper's counters do include it


def cgroup_pids(rel: str) -> set[int]:
    """Processes under a cgroup, as the worker samples them."""
    pids: set[int] = set()
    base = Path("/sys/fs/cgroup/pids") / rel.strip("/")
    for procs in base.glob("**/cgroup.procs"):
        try:
            pids.update(int(p) for p in procs.read_text().split())
        except OSError:
            pass
    return pids


def test_short_containers_exact_and_apart(collector, client, test_root):
    """Three containers at once, each gone within a second; two followed, one not.

    The first writes 20 MiB, then 5 MiB in a grandchild (its subshell's child), then
    3 MiB in an orphan reparented to its init; it is not seeded, so everything rests
    on the records. The second writes 7 MiB and is seeded by a sampler, as the worker
    does. The third writes 11 MiB under a cgroup nobody follows.
    """
    first = (f"{dd('/tmp/f', 20)}; ({dd('/tmp/g', 5)}; true) & wait; "
             f"(sh -c \"{dd('/tmp/h', 3)}; touch /tmp/done\" &); "
             "while [ ! -e /tmp/done ]; do sleep 0.01; done")
    specs = {"first": (f"{test_root}/a/e1", first),
             "second": (f"{test_root}/a/e2", f"{dd('/tmp/f', 7)}"),
             "stranger": (f"{test_root}/b/e3", f"{dd('/tmp/f', 11)}")}
    containers = {}
    try:
        for name, (rel, cmd) in specs.items():
            containers[name] = client.containers.create(
                IMAGE, ["sh", "-c", cmd], cgroup_parent=rel, network_mode="none", detach=True)
        follows = {name: collector.follow(name, specs[name][0], containers[name].id)
                   for name in ("first", "second")}
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                follows["second"].seed(cgroup_pids(specs["second"][0]))
                time.sleep(0.02)
        sampler = threading.Thread(target=sample, daemon=True)
        started = time.monotonic()
        for c in containers.values():
            c.start()
        sampler.start()
        codes = {name: c.wait(timeout=60)["StatusCode"] for name, c in containers.items()}
        elapsed = time.monotonic() - started
        stop.set()
        sampler.join()
        assert codes == {"first": 0, "second": 0, "stranger": 0}, codes
        figures = {name: f.result(settle_seconds=0.2) for name, f in follows.items()}
    finally:
        for c in containers.values():
            c.remove(force=True)
    print(f"containers ran {elapsed:.2f} s; {figures}")
    first_fig, second_fig = figures["first"], figures["second"]
    assert first_fig.exact and second_fig.exact, figures
    assert 28 * MiB <= first_fig.write_bytes < 28 * MiB + SLACK
    assert 7 * MiB <= second_fig.write_bytes < 7 * MiB + SLACK
    assert first_fig.tasks >= 5          # init, dd, subshell, its dd, the orphan's sh and dd


def test_a_real_overflow_makes_the_figures_inexact(collector):
    """With a tiny receive buffer and a stalled reader the kernel drops records and says so."""
    from actors.runtime.taskio import Attribution

    class Tiny(Listener):
        RCVBUF = 4096

    gate = threading.Event()

    class Stalled(Attribution):
        def on_exit(self, ev):
            gate.wait(10)
            super().on_exit(ev)

    col = TaskIO(Tiny, Stalled())
    assert col.available, col.error
    try:
        with col.follow("e", "/abacotest-nowhere/a/e") as f:
            for _ in range(100):
                subprocess.run(["true"], check=True)
            gate.set()
            fig = f.result(settle_seconds=0.2)
    finally:
        gate.set()
        col.close()
    print(fig)
    assert not fig.exact and "ENOBUFS" in fig.reason
