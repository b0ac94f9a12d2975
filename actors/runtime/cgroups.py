"""The platform's cgroup tree: ``/<instance>/<actor_id>/<execution_id>``.

The actor level carries the actor's quota across its concurrent executions, the
execution level that execution's limits; Docker runs the container with the execution
cgroup as ``cgroup_parent``, so every process of the container is inside both. The
execution cgroup outlives the container, so what the kernel charged to it (CPU time,
memory peak, OOM kills) can still be read after the container exits; then it is
removed. Works on cgroup v1 (one hierarchy per controller, as on this machine) and v2
(unified), detected at start. A knob the kernel does not offer is reported once in the
log and listed in the execution's ``limits_unsupported``, never silently ignored.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from actors.limits import Limits, parse_size  # noqa: F401 - parse_size is part of this module's API

log = logging.getLogger(__name__)

ROOT = Path("/sys/fs/cgroup")


def version(root: Path = ROOT) -> int:
    """2 on a unified hierarchy, else 1."""
    return 2 if (root / "cgroup.controllers").exists() else 1


@dataclass
class Usage:
    cpu_ns: int = 0
    memory_peak: int = 0
    io_bytes: int = 0
    memory_current: int = 0
    pids_current: int = 0
    oom_kills: int = 0
    cpu_user_ns: int = 0           # cpu_ns split into user and system time
    cpu_system_ns: int = 0


class CgroupTree:
    """Creates cgroups with limits under the platform's tree and reads them back."""

    def __init__(self, root: Path = ROOT, io_device: str | None = None):
        self.root = root
        self.version = version(root)
        self.io_device = io_device if io_device is not None else _root_device()
        self._reported: set[str] = set()

    # -------------------------------------------------------------- writing

    def _unsupported(self, knob: str, why: str) -> str:
        if knob not in self._reported:
            self._reported.add(knob)
            log.warning("cgroup knob %s is not available: %s; it is not applied", knob, why)
        return knob

    def _write(self, path: Path, value: str, knob: str, missing: list[str]) -> None:
        if not path.exists():
            missing.append(self._unsupported(knob, f"{path.name} does not exist on this kernel"))
            return
        try:
            path.write_text(value)
        except OSError as exc:
            missing.append(self._unsupported(knob, f"writing {value!r} to {path} failed: {exc}"))

    def create(self, cgroup: str, limits: Limits) -> list[str]:
        """Create the cgroup (and its parents) and apply the limits; returns unsupported knobs."""
        if self.version == 2:
            return self._create_v2(cgroup.strip("/"), limits)
        return self._create_v1(cgroup.strip("/"), limits)

    def _create_v1(self, rel: str, lim: Limits) -> list[str]:
        missing: list[str] = []
        for ctl in ("cpu", "cpuacct", "memory", "pids", "blkio"):
            base = self.root / ctl
            if base.is_dir():
                (base / rel).mkdir(parents=True, exist_ok=True)
        mem, cpu, pids, blk = (self.root / c / rel for c in ("memory", "cpu", "pids", "blkio"))
        if lim.memory_max:
            self._write(mem / "memory.limit_in_bytes", str(lim.memory_max), "memory_max", missing)
        for knob in ("memory_high", "memory_low", "memory_min"):
            if getattr(lim, knob):
                missing.append(self._unsupported(knob, "cgroup v1 has no such knob"))
        if lim.cpu_quota:
            self._write(cpu / "cpu.cfs_period_us", str(lim.cpu_period_us), "cpu_period_us", missing)
            self._write(cpu / "cpu.cfs_quota_us", str(max(1000, int(lim.cpu_quota * lim.cpu_period_us))),
                        "cpu_quota", missing)
        if lim.cpu_weight:
            shares = max(2, min(262144, lim.cpu_weight * 1024 // 100))
            self._write(cpu / "cpu.shares", str(shares), "cpu_weight", missing)
        if lim.pids_max:
            self._write(pids / "pids.max", str(lim.pids_max), "pids_max", missing)
        if lim.io_weight:
            # Both v2's io.weight and BFQ's weight default to 100; CFQ's blkio.weight is 10..1000.
            if (blk / "blkio.bfq.weight").exists():
                self._write(blk / "blkio.bfq.weight", str(max(1, min(1000, lim.io_weight))), "io_weight", missing)
            else:
                self._write(blk / "blkio.weight", str(max(10, min(1000, lim.io_weight))), "io_weight", missing)
        for knob, name in (("io_read_bps", "read_bps_device"), ("io_write_bps", "write_bps_device"),
                           ("io_read_iops", "read_iops_device"), ("io_write_iops", "write_iops_device")):
            value = getattr(lim, knob)
            if value:
                if not self.io_device:
                    missing.append(self._unsupported(knob, "the Docker disk's device is unknown"))
                    continue
                self._write(blk / f"blkio.throttle.{name}", f"{self.io_device} {value}", knob, missing)
        return missing

    def _create_v2(self, rel: str, lim: Limits) -> list[str]:
        missing: list[str] = []
        parts = rel.split("/")
        current = self.root
        for part in parts:
            # Controllers must be enabled in every parent for the child to have them.
            control = current / "cgroup.subtree_control"
            enabled = set(control.read_text().split()) if control.exists() else set()
            available = set((current / "cgroup.controllers").read_text().split()) \
                if (current / "cgroup.controllers").exists() else set()
            for ctl in ("cpu", "memory", "pids", "io"):
                if ctl in available and ctl not in enabled:
                    try:
                        control.write_text(f"+{ctl}")
                    except OSError as exc:
                        self._unsupported(f"controller {ctl}", str(exc))
            current = current / part
            current.mkdir(exist_ok=True)
        d = current
        for knob, name in (("memory_max", "memory.max"), ("memory_high", "memory.high"),
                           ("memory_low", "memory.low"), ("memory_min", "memory.min"),
                           ("pids_max", "pids.max"), ("cpu_weight", "cpu.weight")):
            value = getattr(lim, knob)
            if value:
                self._write(d / name, str(value), knob, missing)
        if lim.cpu_quota:
            quota = max(1000, int(lim.cpu_quota * lim.cpu_period_us))
            self._write(d / "cpu.max", f"{quota} {lim.cpu_period_us}", "cpu_quota", missing)
        if lim.io_weight:
            self._write(d / "io.weight", f"default {lim.io_weight}", "io_weight", missing)
        io_max = " ".join(f"{key}={getattr(lim, knob)}" for knob, key in (
            ("io_read_bps", "rbps"), ("io_write_bps", "wbps"), ("io_read_iops", "riops"),
            ("io_write_iops", "wiops")) if getattr(lim, knob))
        if io_max:
            if self.io_device:
                self._write(d / "io.max", f"{self.io_device} {io_max}", "io_max", missing)
            else:
                missing.append(self._unsupported("io_max", "the Docker disk's device is unknown"))
        return missing

    # -------------------------------------------------------------- reading

    def sample(self, cgroup: str) -> Usage:
        """Current and cumulative figures of a cgroup."""
        usage = read_usage(cgroup, self.root)
        rel = cgroup.strip("/")
        if self.version == 2:
            d = self.root / rel
            usage.memory_current = _read_int(d / "memory.current")
            usage.pids_current = _read_int(d / "pids.current")
            usage.oom_kills = _keyed(d / "memory.events", "oom_kill")
        else:
            usage.memory_current = _read_int(self.root / "memory" / rel / "memory.usage_in_bytes")
            usage.pids_current = _read_int(self.root / "pids" / rel / "pids.current")
            usage.oom_kills = _keyed(self.root / "memory" / rel / "memory.oom_control", "oom_kill")
        return usage


def _keyed(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _root_device(path: str = "/var/lib/docker") -> str | None:
    """'major:minor' of the whole disk holding Docker's data, for io throttling."""
    try:
        dev = os.stat(path if os.path.exists(path) else "/").st_dev
    except OSError:
        return None
    major, minor = os.major(dev), os.minor(dev)
    # A partition throttles through its disk: /sys/dev/block/M:m/partition exists for those.
    sysdir = Path(f"/sys/dev/block/{major}:{minor}")
    if (sysdir / "partition").exists():
        try:
            return (sysdir.resolve().parent / "dev").read_text().strip()
        except OSError:
            return None
    return f"{major}:{minor}" if sysdir.exists() else None


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
        stat = _stat(d / "cpu.stat")
        return Usage(cpu_ns=stat.get("usage_usec", 0) * 1000, memory_peak=_read_int(d / "memory.peak"),
                     io_bytes=_v2_io(d), cpu_user_ns=stat.get("user_usec", 0) * 1000,
                     cpu_system_ns=stat.get("system_usec", 0) * 1000)
    cpu_ns = _read_int(root / "cpuacct" / rel / "cpuacct.usage")
    # cpuacct.stat counts clock ticks; cpuacct.usage is exact: split the exact total by the ticks.
    ticks = _stat(root / "cpuacct" / rel / "cpuacct.stat")
    user, system = ticks.get("user", 0), ticks.get("system", 0)
    user_ns = cpu_ns * user // (user + system) if user + system else cpu_ns
    return Usage(
        cpu_ns=cpu_ns,
        memory_peak=_read_int(root / "memory" / rel / "memory.max_usage_in_bytes"),
        io_bytes=_v1_io(root / "blkio" / rel),
        cpu_user_ns=user_ns, cpu_system_ns=cpu_ns - user_ns,
    )


def _stat(path: Path) -> dict[str, int]:
    """A ``key value`` per line file (cpu.stat, cpuacct.stat) as a dict; {} if unreadable."""
    out: dict[str, int] = {}
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            if value.strip().isdigit():
                out[key] = int(value)
    except OSError:
        pass
    return out


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


def hierarchies(root: Path = ROOT, mountinfo: str = "/proc/self/mountinfo") -> list[Path]:
    """Every cgroup hierarchy mounted under ``root``.

    The Docker engine makes each container's cgroup in all of them, the named ones too
    (``systemd``, and the cgroup2 ``unified`` mount of a hybrid v1 host), so what the
    platform removes it removes from all of them. Read from the mount table; for a
    ``root`` that is not mounted there (a test's folder), its sub-folders.
    """
    found: list[Path] = []
    try:
        for line in Path(mountinfo).read_text().splitlines():
            before, _, after = line.partition(" - ")
            fstype = after.split(" ", 1)[0]
            point = Path(before.split(" ")[4].replace("\\040", " "))
            if fstype in ("cgroup", "cgroup2") and (point == root or root in point.parents):
                found.append(point)
    except (OSError, IndexError):
        pass
    if found:
        return sorted(set(found))
    if version(root) == 2:
        return [root]
    try:
        return sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:
        return []


def _dirs(cgroup: str, root: Path) -> list[Path]:
    rel = cgroup.strip("/")
    return [h / rel for h in hierarchies(root)]


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
    """Names of the direct child cgroups in any hierarchy (for finding leftovers)."""
    names: set[str] = set()
    for base in _dirs(cgroup, root):
        try:
            names.update(p.name for p in base.iterdir() if p.is_dir())
        except OSError:
            continue
    return sorted(names)
