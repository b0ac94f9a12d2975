"""Exact storage I/O of an execution on cgroup v1, from the kernel's per-task exit records.

On cgroup v1 the blkio controller does not see buffered writes, and sampling
``/proc/<pid>/io`` misses whatever a process did between the last sample and its exit.
The kernel's taskstats interface (generic netlink family ``TASKSTATS``) instead sends a
record of every task (thread) when it exits, to every socket that registered for the
CPU it exits on. Each record carries that task's own ``read_bytes``/``write_bytes``
(storage I/O it caused: reads it submitted, pages it dirtied) and never what its reaped
children did: the kernel adds a reaped child's counts to the parent's *signal*
accounting, which the per-task record does not include. So:

Guarantee. The sum, over the exit records of all tasks of all processes of a
container, counts each byte of the container's storage I/O exactly once; when
``IoFigures.exact`` is True every exit record the kernel delivered for the execution
while it was followed was attributed to it and none of another's. ``exact`` is False
when the listener could not run (not root, no taskstats), when the socket overflowed
(ENOBUFS: records were lost), or when records that could belong to the execution
could not be placed in time.

Attribution. A record names the task (pid, tgid) and its parent process (ppid), all
host pids, not its cgroup. ``Attribution`` places it: a task is inside an execution
when its process, or its parent process, is known to be inside (a container's
processes live in their own pid namespace, so an orphan is reparented to the
container's init, never to a process outside); otherwise when ``/proc/<pid>/cgroup``
of the task or its parent (readable for zombies too) lies under the execution's
cgroup; otherwise when the parent is the execution's containerd shim (the container's
init, and ``docker exec`` processes, are the shim's children; so are the shim's
``runc`` helpers, told apart by their cgroup or their command name). A record whose
task and parent have both vanished waits until the parent's own record (always sent
before the parent is reaped, so never later than the next barrier) decides it.

Caveats: the kernel rounds each task's figures down to a KiB; I/O a task causes after
its exit record (while closing files, unmapping memory) is not seen; a record dropped
because the kernel could not allocate it is not detected; pid reuse within a few
seconds could misplace a record (pids are cached for seconds only).
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import socket
import struct
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Hashable, Iterable, Iterator

log = logging.getLogger(__name__)

# Netlink and generic netlink (linux/netlink.h, linux/genetlink.h).
NETLINK_GENERIC = 16
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
NLA_TYPE_MASK = 0x3FFF

# linux/taskstats.h
TASKSTATS_GENL_NAME = "TASKSTATS"
TASKSTATS_GENL_VERSION = 1
TASKSTATS_CMD_GET = 1
TASKSTATS_CMD_NEW = 2
TASKSTATS_TYPE_PID = 1
TASKSTATS_TYPE_TGID = 2
TASKSTATS_TYPE_STATS = 3
TASKSTATS_TYPE_AGGR_PID = 4
TASKSTATS_TYPE_AGGR_TGID = 5
TASKSTATS_CMD_ATTR_PID = 1
TASKSTATS_CMD_ATTR_REGISTER_CPUMASK = 3
TASKSTATS_CMD_ATTR_DEREGISTER_CPUMASK = 4

# Offsets in struct taskstats (fields are only ever appended, so they hold for every
# version that has them; ac_tgid since version 12).
OFF_VERSION = 0
OFF_EXITCODE = 4
OFF_COMM, COMM_LEN = 80, 32
OFF_PID = 128
OFF_PPID = 132
OFF_READ_BYTES = 248
OFF_WRITE_BYTES = 256
OFF_CANCELLED_WRITE_BYTES = 264
OFF_TGID = 368
IO_FIELDS_END = 272
TGID_SINCE_VERSION = 12

FOREIGN = object()  # verdict: the task belongs to no followed execution


@dataclass(frozen=True)
class TaskExit:
    """One task's exit record (host pids; tgid == pid when the kernel does not report it)."""

    pid: int
    ppid: int
    tgid: int
    comm: str = ""
    read_bytes: int = 0
    write_bytes: int = 0
    cancelled_write_bytes: int = 0
    exitcode: int = 0


@dataclass(frozen=True)
class IoFigures:
    """Storage bytes of one execution; exact says whether they can be trusted as complete."""

    read_bytes: int
    write_bytes: int
    exact: bool
    cancelled_write_bytes: int = 0
    tasks: int = 0          # exit records credited (threads count one each)
    reason: str = ""        # why not exact


def parse_taskstats(buf: bytes) -> TaskExit:
    """A TaskExit from the bytes of a struct taskstats, read at the header's offsets."""
    if len(buf) < IO_FIELDS_END:
        raise ValueError(f"struct taskstats of {len(buf)} bytes has no I/O accounting")
    version, = struct.unpack_from("=H", buf, OFF_VERSION)
    exitcode, = struct.unpack_from("=I", buf, OFF_EXITCODE)
    comm = bytes(buf[OFF_COMM:OFF_COMM + COMM_LEN]).split(b"\0", 1)[0].decode("utf-8", "replace")
    pid, ppid = struct.unpack_from("=II", buf, OFF_PID)
    read_b, write_b, cancelled = struct.unpack_from("=QQQ", buf, OFF_READ_BYTES)
    tgid = pid
    if version >= TGID_SINCE_VERSION and len(buf) >= OFF_TGID + 4:
        tgid, = struct.unpack_from("=I", buf, OFF_TGID)
    return TaskExit(pid=pid, ppid=ppid, tgid=tgid or pid, comm=comm, read_bytes=read_b,
                    write_bytes=write_b, cancelled_write_bytes=cancelled, exitcode=exitcode)


def _align4(n: int) -> int:
    return (n + 3) & ~3


def iter_attrs(buf: bytes) -> Iterator[tuple[int, bytes]]:
    """(type, payload) of each netlink attribute in buf."""
    off = 0
    while off + 4 <= len(buf):
        length, kind = struct.unpack_from("=HH", buf, off)
        if length < 4 or off + length > len(buf):
            break
        yield kind & NLA_TYPE_MASK, bytes(buf[off + 4:off + length])
        off += _align4(length)


def iter_messages(data: bytes) -> Iterator[tuple[int, int, int, int, bytes]]:
    """(type, flags, seq, port, payload) of each netlink message in one datagram."""
    off = 0
    while off + 16 <= len(data):
        length, kind, flags, seq, port = struct.unpack_from("=IHHII", data, off)
        if length < 16 or off + length > len(data):
            break
        yield kind, flags, seq, port, bytes(data[off + 16:off + length])
        off += _align4(length)


def exits_in(genl_payload: bytes) -> list[TaskExit]:
    """The per-task records (TASKSTATS_TYPE_AGGR_PID) of one TASKSTATS_CMD_NEW message.

    Per-process aggregates (AGGR_TGID) are skipped: they repeat what the threads'
    own records carry.
    """
    found = []
    for kind, value in iter_attrs(genl_payload[4:]):
        if kind != TASKSTATS_TYPE_AGGR_PID:
            continue
        for inner, payload in iter_attrs(value):
            if inner == TASKSTATS_TYPE_STATS:
                found.append(parse_taskstats(payload))
    return found


def attr(kind: int, payload: bytes) -> bytes:
    """One netlink attribute, padded."""
    raw = struct.pack("=HH", 4 + len(payload), kind) + payload
    return raw + b"\0" * (_align4(len(raw)) - len(raw))


def genl_message(family: int, cmd: int, attrs: bytes, seq: int, flags: int = NLM_F_REQUEST,
                 version: int = 1) -> bytes:
    """A generic netlink request."""
    body = struct.pack("=BBH", cmd, version, 0) + attrs
    return struct.pack("=IHHII", 16 + len(body), family, flags, seq, 0) + body


# Lookups in /proc, injected into Attribution so it can be tested without a kernel.

def proc_cgroups(pid: int) -> frozenset[str] | None:
    """The cgroup paths of a process in every hierarchy, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except (OSError, ValueError):
        return None
    return frozenset(line.split(":", 2)[2] for line in text.splitlines() if line.count(":") >= 2)


def proc_cmdline(pid: int) -> list[str] | None:
    """The arguments of a process, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]


def _is_shim_of(args: list[str] | None, container_id: str) -> bool:
    if not args or "-id" not in args:
        return False
    i = args.index("-id")
    return i + 1 < len(args) and len(container_id) >= 12 and args[i + 1].startswith(container_id)


class _Run:
    """What is known about one followed execution."""

    def __init__(self, cgroup_rel: str):
        self.rel = "/" + cgroup_rel.strip("/")
        self.container_id: str | None = None
        self.shim: int | None = None
        self.inside: dict[int, float] = {}      # pid -> time to forget it
        self.read = self.write = self.cancelled = self.tasks = 0
        self.reasons: list[str] = []

    def contains(self, paths: frozenset[str]) -> bool:
        return any(p == self.rel or p.startswith(self.rel + "/") for p in paths)

    def knows(self, pid: int, now: float) -> bool:
        until = self.inside.get(pid)
        return until is not None and until >= now


class Attribution:
    """Places task exit records on followed executions; pure apart from the injected lookups.

    Not thread-safe: the caller serialises calls (TaskIO holds a lock).
    """

    def __init__(self, cgroup_of: Callable[[int], frozenset[str] | None] = proc_cgroups,
                 cmdline_of: Callable[[int], list[str] | None] = proc_cmdline,
                 clock: Callable[[], float] = time.monotonic, *, max_pending: int = 10000,
                 max_age: float = 5.0, ttl: float = 10.0, grace: float = 2.0):
        # ttl: how long a live pid's place is cached; grace: how long an exited process's
        # (its children's records are queued right next to its own; after that its pid
        # may be reused, pid_max is often 32768).
        self.cgroup_of, self.cmdline_of, self.clock = cgroup_of, cmdline_of, clock
        self.max_pending, self.max_age, self.ttl, self.grace = max_pending, max_age, ttl, grace
        self._runs: dict[Hashable, _Run] = {}
        self._foreign: OrderedDict[int, float] = OrderedDict()   # pid -> time to forget it
        # parent pid -> records waiting for the parent's verdict: (arrived, record, keys)
        self._pending: dict[int, list[tuple[float, TaskExit, frozenset]]] = {}
        self._pending_count = 0
        self._expired_at = float("-inf")

    # The execution's side.
    def track(self, key: Hashable, cgroup_rel: str) -> None:
        """Start following an execution (before its container starts)."""
        self._runs[key] = _Run(cgroup_rel)
        self._foreign.clear()   # a pid seen as foreign may be inside this one

    def set_container(self, key: Hashable, container_id: str) -> None:
        """The execution's container id, to recognise its containerd shim."""
        self._runs[key].container_id = container_id
        self._foreign.clear()   # the shim may have been cached as foreign

    def seed(self, key: Hashable, pids: Iterable[int]) -> None:
        """Pids seen inside the execution's cgroup (e.g. sampled from cgroup.procs)."""
        now = self.clock()
        run = self._runs[key]
        for pid in pids:
            run.inside[pid] = now + self.ttl
            self._foreign.pop(pid, None)
            self._release(pid, key, now)

    def overflow(self) -> None:
        """Records were lost: every execution followed now is incomplete."""
        for run in self._runs.values():
            self._inexact(run, "taskstats socket overflowed (ENOBUFS)")

    def fail(self, reason: str, key: Hashable | None = None) -> None:
        """Records may be missing for this execution (or, without a key, for every one followed now)."""
        for k, run in self._runs.items():
            if key is None or k == key:
                self._inexact(run, reason)

    def pending_for(self, key: Hashable) -> int:
        """Records waiting for a verdict that could belong to this execution."""
        return sum(1 for items in self._pending.values() for _, _, keys in items if key in keys)

    def finish(self, key: Hashable) -> IoFigures:
        """Stop following; the figures credited to the execution."""
        self.expire(force=True)
        run = self._runs.pop(key)
        if self.pending_for(key):
            self._inexact(run, "records left unplaced")
        if not self._runs:
            self._pending.clear()
            self._pending_count = 0
            self._foreign.clear()
        return IoFigures(run.read, run.write, not run.reasons, run.cancelled, run.tasks,
                         "; ".join(run.reasons))

    # The listener's side.
    def on_exit(self, ev: TaskExit) -> None:
        """Credit one exit record, or keep it until its parent is placed."""
        if not self._runs:
            return
        now = self.clock()
        self.expire(now)
        verdict = self._place(ev, now)
        if verdict is None:
            self._pending.setdefault(ev.ppid, []).append((now, ev, frozenset(self._runs)))
            self._pending_count += 1
            if self._pending_count > self.max_pending:
                self._drop_oldest()
        else:
            self._settle(ev, verdict, now)

    def expire(self, now: float | None = None, force: bool = False) -> None:
        """Forget cached pids and give up on records that waited too long (at most 4 times a second)."""
        now = self.clock() if now is None else now
        if not force and now - self._expired_at < 0.25:
            return
        self._expired_at = now
        for pid in [p for p, until in self._foreign.items() if until < now]:
            del self._foreign[pid]
        for run in self._runs.values():
            for pid in [p for p, until in run.inside.items() if until < now]:
                del run.inside[pid]
        for ppid in list(self._pending):
            items = self._pending[ppid]
            keep = [item for item in items if item[0] + self.max_age >= now]
            for item in items:
                if item[0] + self.max_age < now:
                    self._give_up(item, "records waited too long for their parent")
            self._pending_count -= len(items) - len(keep)
            if keep:
                self._pending[ppid] = keep
            else:
                del self._pending[ppid]

    # Inside.
    def _place(self, ev: TaskExit, now: float) -> object | None:
        """The key the record belongs to, FOREIGN, or None when undecidable for now."""
        for key, run in self._runs.items():
            if run.knows(ev.tgid, now) or run.knows(ev.pid, now):
                return key
        for key, run in self._runs.items():
            if run.knows(ev.ppid, now):
                return key
        own = self._cgroup_verdict(ev.tgid, now)
        if own is not None:
            return own
        shim_of = self._shim_run(ev.ppid, now)
        if shim_of is not None:
            # The init or an exec'd process (inside), or a runc helper (outside), whose
            # cgroup is gone: only runc's helpers are called runc.
            return FOREIGN if ev.comm == "runc" else shim_of
        if ev.ppid == 0 or self._foreign_cached(ev.ppid, now):
            return FOREIGN
        parent = self._cgroup_verdict(ev.ppid, now)
        if parent is not None:
            self._release(ev.ppid, parent, now)
        return parent

    def _cgroup_verdict(self, pid: int, now: float) -> object | None:
        """Where a live or zombie process is, by its cgroup; None when it is gone."""
        paths = self.cgroup_of(pid)
        if paths is None:
            return None
        for key, run in self._runs.items():
            if run.contains(paths):
                run.inside[pid] = now + self.ttl
                return key
        if self._shim_run(pid, now) is None:
            self._remember_foreign(pid, now)
        return FOREIGN

    def _shim_run(self, pid: int, now: float) -> Hashable | None:
        """The execution whose containerd shim this process is, if any."""
        for key, run in self._runs.items():
            if run.shim == pid:
                return key
        if pid <= 1 or self._foreign_cached(pid, now):
            return None
        waiting = [(k, r) for k, r in self._runs.items() if r.container_id and r.shim is None]
        if not waiting:
            return None
        args = self.cmdline_of(pid)
        for key, run in waiting:
            if run.container_id and _is_shim_of(args, run.container_id):
                run.shim = pid
                return key
        return None

    def _foreign_cached(self, pid: int, now: float) -> bool:
        until = self._foreign.get(pid)
        return until is not None and until >= now

    def _remember_foreign(self, pid: int, now: float, keep: float | None = None) -> None:
        self._foreign.pop(pid, None)
        self._foreign[pid] = now + (self.ttl if keep is None else keep)
        while len(self._foreign) > 65536:
            self._foreign.popitem(last=False)

    def _settle(self, ev: TaskExit, verdict: object, now: float) -> None:
        # A process ends with its leader's record; other threads leave the process running.
        keep = self.grace if ev.pid == ev.tgid else self.ttl
        if verdict is FOREIGN:
            self._remember_foreign(ev.tgid, now, keep)
        else:
            run = self._runs[verdict]
            run.read += ev.read_bytes
            run.write += ev.write_bytes
            run.cancelled += ev.cancelled_write_bytes
            run.tasks += 1
            run.inside[ev.tgid] = now + keep
        self._release(ev.tgid, verdict, now)

    def _release(self, ppid: int, verdict: object, now: float) -> None:
        """Records that waited for this parent share its verdict (and release their children)."""
        items = self._pending.pop(ppid, None)
        if not items:
            return
        self._pending_count -= len(items)
        for _, child, _ in items:
            if verdict is not FOREIGN and verdict not in self._runs:
                verdict = FOREIGN
            self._settle(child, verdict, now)

    def _drop_oldest(self) -> None:
        ppid = min(self._pending, key=lambda p: self._pending[p][0][0])
        items = self._pending[ppid]
        self._give_up(items.pop(0), "too many records waiting for their parent")
        self._pending_count -= 1
        if not items:
            del self._pending[ppid]

    def _give_up(self, item: tuple[float, TaskExit, frozenset], reason: str) -> None:
        for key in item[2]:
            if key in self._runs:
                self._inexact(self._runs[key], reason)

    @staticmethod
    def _inexact(run: _Run, reason: str) -> None:
        if reason not in run.reasons:
            run.reasons.append(reason)


def possible_cpus() -> str:
    """The kernel's list of possible CPUs ("0-63"), the mask we register for."""
    try:
        return Path("/sys/devices/system/cpu/possible").read_text().strip()
    except OSError:
        return f"0-{(os.cpu_count() or 1) - 1}"


class Listener:
    """A taskstats netlink socket registered for exits on all CPUs, read by a daemon thread.

    Each record is handed to ``on_exit``; ``on_overflow`` is called when the kernel
    reports lost records. Registration is per socket (netlink port), so any number of
    listeners can coexist on a host.
    """

    RCVBUF = 32 * 1024 * 1024

    def __init__(self, on_exit: Callable[[TaskExit], None], on_overflow: Callable[[], None],
                 on_stop: Callable[[str], None] = lambda reason: None):
        self.on_exit, self.on_overflow, self.on_stop = on_exit, on_overflow, on_stop
        self._seq = itertools.count(1)
        self._barriers: dict[int, threading.Event] = {}
        self._closing = threading.Event()
        self.cpus = possible_cpus()
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        try:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, 33, self.RCVBUF)  # SO_RCVBUFFORCE
            except OSError:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.RCVBUF)
            self.sock.bind((0, 0))
            self.port = self.sock.getsockname()[0]
            self.sock.settimeout(5.0)
            self.family = self._family_id()
            self._request(TASKSTATS_CMD_ATTR_REGISTER_CPUMASK)
        except BaseException:
            self.sock.close()
            raise
        self.sock.settimeout(1.0)
        self.thread = threading.Thread(target=self._run, name="taskio-listener", daemon=True)
        self.thread.start()

    def _family_id(self) -> int:
        seq = next(self._seq)
        self.sock.send(genl_message(GENL_ID_CTRL, CTRL_CMD_GETFAMILY,
                                    attr(CTRL_ATTR_FAMILY_NAME, TASKSTATS_GENL_NAME.encode() + b"\0"),
                                    seq))
        for kind, _flags, _got, _port, payload in self._replies(seq):
            if kind == NLMSG_ERROR:
                raise OSError(-struct.unpack_from("=i", payload)[0], "taskstats family lookup failed")
            for a, value in iter_attrs(payload[4:]):
                if a == CTRL_ATTR_FAMILY_ID:
                    return struct.unpack_from("=H", value)[0]
        raise OSError(errno.ENOENT, "no TASKSTATS generic netlink family")

    def _request(self, cpumask_attr: int) -> None:
        """Register or deregister our cpumask, waiting for the kernel's acknowledgement."""
        seq = next(self._seq)
        self.sock.send(genl_message(self.family, TASKSTATS_CMD_GET,
                                    attr(cpumask_attr, self.cpus.encode() + b"\0"), seq,
                                    NLM_F_REQUEST | NLM_F_ACK, TASKSTATS_GENL_VERSION))
        for kind, _flags, _got, _port, payload in self._replies(seq):
            if kind == NLMSG_ERROR:
                code = -struct.unpack_from("=i", payload)[0]
                if code:
                    raise OSError(code, f"taskstats cpumask request failed: {os.strerror(code)}")
                return

    def _replies(self, seq: int) -> Iterator[tuple[int, int, int, int, bytes]]:
        """Messages answering seq, before the thread runs; exit records met meanwhile are fed on."""
        while True:
            data = self.sock.recv(65536)
            for msg in iter_messages(data):
                if msg[2] == seq and msg[3] == self.port:
                    yield msg
                    return
                self._dispatch(msg)

    def barrier(self, timeout: float = 5.0) -> bool:
        """Wait until every record queued before this call has been handed on.

        Asks the kernel for our own stats on the same socket: the reply is queued
        behind every exit record already queued, so its arrival proves they were read.
        """
        if not self.thread.is_alive():
            return False
        seq = next(self._seq) | 0x40000000
        done = self._barriers[seq] = threading.Event()
        try:
            self.sock.send(genl_message(self.family, TASKSTATS_CMD_GET,
                                        attr(TASKSTATS_CMD_ATTR_PID, struct.pack("=I", os.getpid())),
                                        seq, NLM_F_REQUEST, TASKSTATS_GENL_VERSION))
            return done.wait(timeout)
        except OSError:
            return False
        finally:
            self._barriers.pop(seq, None)

    def _dispatch(self, msg: tuple[int, int, int, int, bytes]) -> None:
        kind, _flags, seq, port, payload = msg
        if port == self.port:       # an answer to one of our requests
            done = self._barriers.get(seq)
            if done is not None:
                done.set()
            return
        if kind == self.family and payload[:1] == bytes([TASKSTATS_CMD_NEW]):
            for ev in exits_in(payload):
                self.on_exit(ev)

    def _run(self) -> None:
        reason = "taskstats listener stopped"
        try:
            while not self._closing.is_set():
                try:
                    data = self.sock.recv(65536)
                except socket.timeout:
                    continue
                except OSError as e:
                    if e.errno == errno.ENOBUFS:
                        self.on_overflow()
                        continue
                    if self._closing.is_set():
                        break
                    raise
                for msg in iter_messages(data):
                    self._dispatch(msg)
        except Exception as e:  # noqa: BLE001 - reported, and the figures marked inexact
            log.exception("taskstats listener failed")
            reason = f"taskstats listener failed: {e}"
        finally:
            if not self._closing.is_set():
                self.on_stop(reason)

    def close(self) -> None:
        """Deregister (so the kernel stops queueing for us) and close the socket."""
        if self._closing.is_set():
            return
        self._closing.set()
        try:
            self.sock.send(genl_message(self.family, TASKSTATS_CMD_GET,
                                        attr(TASKSTATS_CMD_ATTR_DEREGISTER_CPUMASK,
                                             self.cpus.encode() + b"\0"),
                                        next(self._seq), NLM_F_REQUEST | NLM_F_ACK,
                                        TASKSTATS_GENL_VERSION))
        except OSError:
            pass
        self.thread.join(3)
        self.sock.close()


class Follow:
    """One followed execution; use as a context manager so it is always let go."""

    def __init__(self, collector: "TaskIO", key: Hashable):
        self._collector, self.key = collector, key
        self._result: IoFigures | None = None

    def seed(self, pids: Iterable[int]) -> None:
        """Pids seen in the execution's cgroup; speeds attribution up, never required."""
        if self._result is None:
            self._collector._call(lambda e: e.seed(self.key, list(pids)))

    def set_container(self, container_id: str) -> None:
        """The container's full id, once known (before it starts, ideally)."""
        if self._result is None:
            self._collector._call(lambda e: e.set_container(self.key, container_id))

    def result(self, settle_seconds: float = 0.2, timeout: float = 5.0) -> IoFigures:
        """The execution's figures; call once its container has exited.

        Waits (at most ``timeout``) until the listener has read every record queued
        so far, then at most ``settle_seconds`` for records still waiting on a parent.
        """
        if self._result is None:
            self._result = self._collector._finish(self.key, settle_seconds, timeout)
        return self._result

    def __enter__(self) -> "Follow":
        return self

    def __exit__(self, *exc) -> None:
        if self._result is None:
            self._result = self._collector._finish(self.key, 0, 0)


class TaskIO:
    """The worker's taskstats collector: one listener, any number of followed executions."""

    def __init__(self, listener_factory: Callable[..., Listener] | None = None,
                 engine: Attribution | None = None):
        self.engine = engine or Attribution()
        self._lock = threading.Lock()
        self.listener: Listener | None = None
        self.error = "" if listener_factory is not None else "taskstats listener not started"
        self._broken = ""
        if listener_factory is not None:
            try:
                self.listener = listener_factory(self._on_exit, self._on_overflow, self._on_stop)
            except Exception as e:  # noqa: BLE001 - unavailable, and said so in every result
                self.error = f"taskstats unavailable: {e}"
                log.warning("%s; storage I/O will not be exact", self.error)

    @classmethod
    def start(cls) -> "TaskIO":
        """A running collector, or one whose ``available`` is False (not root, no taskstats)."""
        return cls(Listener)

    @property
    def available(self) -> bool:
        return self.listener is not None and not self._broken

    def follow(self, execution_key: Hashable, cgroup_rel: str, container_id: str | None = None) -> Follow:
        """Start following an execution whose container will run under cgroup_rel."""
        with self._lock:
            self.engine.track(execution_key, cgroup_rel)
            if not self.available:
                self.engine.fail(self.error or self._broken)
            if container_id:
                self.engine.set_container(execution_key, container_id)
        return Follow(self, execution_key)

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()

    # Internals.
    def _call(self, fn: Callable[[Attribution], object]) -> object:
        with self._lock:
            return fn(self.engine)

    def _finish(self, key: Hashable, settle_seconds: float, timeout: float) -> IoFigures:
        if self.listener is not None and self.available and timeout > 0 and not self.listener.barrier(timeout):
            with self._lock:
                self.engine.fail("taskstats records not drained in time", key)
        deadline = time.monotonic() + settle_seconds
        while time.monotonic() < deadline:
            with self._lock:
                if not self.engine.pending_for(key):
                    break
            time.sleep(0.01)
        with self._lock:
            return self.engine.finish(key)

    def _on_exit(self, ev: TaskExit) -> None:
        with self._lock:
            self.engine.on_exit(ev)

    def _on_overflow(self) -> None:
        log.warning("taskstats socket overflowed: storage I/O of running executions is incomplete")
        with self._lock:
            self.engine.overflow()

    def _on_stop(self, reason: str) -> None:
        self._broken = reason
        with self._lock:
            self.engine.fail(reason)
