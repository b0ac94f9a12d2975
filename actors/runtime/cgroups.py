"""The platform's cgroup tree: ``/<instance>/<actor_id>/<execution_id>``.

Docker runs each execution container with its execution cgroup as ``cgroup_parent``.
The execution cgroup outlives the container, so the figures the kernel charged to it
(CPU time, memory peak) can still be read after the container exits, then the cgroup is
removed. Works on cgroup v1 (one hierarchy per controller) and v2 (unified).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("cpu", "cpuacct", "memory", "blkio", "pids", "cpuset", "devices", "freezer",
                  "systemd")


def version(root: Path = ROOT) -> int:
    """2 on a unified hierarchy, else 1."""
    return 2 if (root / "cgroup.controllers").exists() else 1


@dataclass
class Usage:
    cpu_ns: int = 0
    memory_peak: int = 0
    io_bytes: int = 0


def execution_path(instance: str, actor_id: str, execution_id: str) -> str:
    """The cgroup parent docker is given (an absolute cgroup path)."""
    return f"/{instance}/{actor_id}/{execution_id}"


def actor_path(instance: str, actor_id: str) -> str:
    return f"/{instance}/{actor_id}"


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _v1_io(dirpath: Path) -> int:
    total = 0
    for name in ("blkio.throttle.io_service_bytes_recursive", "blkio.io_service_bytes_recursive"):
        try:
            lines = (dirpath / name).read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) == 3 and parts[1] in ("Read", "Write"):
                total += int(parts[2])
        if total:
            return total
    return total


def _v2_io(dirpath: Path) -> int:
    total = 0
    try:
        for line in (dirpath / "io.stat").read_text().splitlines():
            for item in line.split()[1:]:
                key, _, val = item.partition("=")
                if key in ("rbytes", "wbytes"):
                    total += int(val)
    except OSError:
        pass
    return total


def read_usage(cgroup: str, root: Path = ROOT) -> Usage:
    """What the kernel charged to a cgroup (and its removed children)."""
    rel = cgroup.strip("/")
    if version(root) == 2:
        d = root / rel
        cpu = 0
        try:
            for line in (d / "cpu.stat").read_text().splitlines():
                key, _, val = line.partition(" ")
                if key == "usage_usec":
                    cpu = int(val) * 1000
        except OSError:
            pass
        return Usage(cpu_ns=cpu, memory_peak=_read_int(d / "memory.peak"), io_bytes=_v2_io(d))
    return Usage(
        cpu_ns=_read_int(root / "cpuacct" / rel / "cpuacct.usage"),
        memory_peak=_read_int(root / "memory" / rel / "memory.max_usage_in_bytes"),
        io_bytes=_v1_io(root / "blkio" / rel),
    )


def pids(cgroup: str, root: Path = ROOT) -> list[int]:
    """Every process in the cgroup subtree (used to sample per-process io)."""
    rel = cgroup.strip("/")
    base = root / rel if version(root) == 2 else root / "pids" / rel
    found: list[int] = []
    for dirpath, _dirs, files in os.walk(base):
        if "cgroup.procs" in files:
            try:
                found.extend(int(p) for p in Path(dirpath, "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                continue
    return found


def process_io_bytes(pid_list: list[int]) -> int:
    """Storage bytes read and written by these processes (and children they reaped).

    The fallback for kernels that do not account block io per cgroup (cgroup v1
    without a throttling-aware block layer, as on this machine).
    """
    total = 0
    for pid in pid_list:
        try:
            for line in Path(f"/proc/{pid}/io").read_text().splitlines():
                key, _, val = line.partition(":")
                if key in ("read_bytes", "write_bytes"):
                    total += int(val)
        except (OSError, ValueError):
            continue
    return total


def _dirs(cgroup: str, root: Path) -> list[Path]:
    rel = cgroup.strip("/")
    if version(root) == 2:
        return [root / rel]
    return [root / c / rel for c in V1_CONTROLLERS]


def remove(cgroup: str, root: Path = ROOT) -> bool:
    """Remove a cgroup subtree, deepest first; True when nothing is left of it."""
    clean = True
    for top in _dirs(cgroup, root):
        if not top.exists():
            continue
        for dirpath, _dirs2, _files in sorted(os.walk(top), key=lambda t: -len(t[0])):
            try:
                os.rmdir(dirpath)
            except FileNotFoundError:
                pass
            except OSError as exc:
                clean = False
                log.debug("cgroup %s not removed: %s", dirpath, exc)
    return clean


def children(cgroup: str, root: Path = ROOT) -> list[str]:
    """Names of the direct child cgroups (for finding leftovers)."""
    rel = cgroup.strip("/")
    base = root / rel if version(root) == 2 else root / "cpuacct" / rel
    try:
        return sorted(p.name for p in base.iterdir() if p.is_dir())
    except OSError:
        return []
