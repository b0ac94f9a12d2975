"""The taskstats parser and the attribution engine, over synthetic records and a fake /proc."""

from __future__ import annotations

import struct

import pytest

from actors.runtime import taskio
from actors.runtime.taskio import Attribution, IoFigures, TaskExit, TaskIO

CID = "c0ffee" * 10 + "abcd"          # a 64-character container id
REL = "/inst/actor/exec"
IN = frozenset({f"{REL}/{CID}"})      # /proc/<pid>/cgroup paths of a container process
OUT = frozenset({"/", "/system.slice/containerd.service"})
SHIM, INIT = 50, 100
MiB = 1024 * 1024


def stats(version=16, pid=1, ppid=0, tgid=None, comm=b"dd", read=0, write=0, cancelled=0, size=432):
    """A struct taskstats as the kernel lays it out (linux/taskstats.h)."""
    buf = bytearray(size)
    struct.pack_into("=H", buf, 0, version)
    struct.pack_into("=I", buf, 4, 3)
    buf[80:80 + len(comm)] = comm
    struct.pack_into("=II", buf, 128, pid, ppid)
    struct.pack_into("=QQQ", buf, 248, read, write, cancelled)
    if tgid is not None:
        struct.pack_into("=I", buf, 368, tgid)
    return bytes(buf)


def test_parse_struct_at_the_header_offsets():
    ev = taskio.parse_taskstats(stats(pid=4242, ppid=7, tgid=4240, read=4096, write=20 * MiB, cancelled=8192))
    assert ev == TaskExit(pid=4242, ppid=7, tgid=4240, comm="dd", read_bytes=4096,
                          write_bytes=20 * MiB, cancelled_write_bytes=8192, exitcode=3)


def test_parse_before_version_12_has_no_tgid():
    ev = taskio.parse_taskstats(stats(version=11, pid=9, ppid=1, size=368))
    assert ev.tgid == 9


def test_parse_refuses_a_struct_without_io_accounting():
    with pytest.raises(ValueError):
        taskio.parse_taskstats(stats()[:200])


def test_parse_a_whole_exit_message():
    """nlmsghdr + genlmsghdr + AGGR_PID{PID, STATS} + AGGR_TGID{TGID, STATS}: one record, the task's."""
    task = taskio.attr(taskio.TASKSTATS_TYPE_AGGR_PID,
                       taskio.attr(taskio.TASKSTATS_TYPE_PID, struct.pack("=I", 11))
                       + taskio.attr(taskio.TASKSTATS_TYPE_STATS, stats(pid=11, ppid=10, tgid=10, write=4096)))
    group = taskio.attr(taskio.TASKSTATS_TYPE_AGGR_TGID,
                        taskio.attr(taskio.TASKSTATS_TYPE_TGID, struct.pack("=I", 10))
                        + taskio.attr(taskio.TASKSTATS_TYPE_STATS, stats(pid=10, ppid=1, write=999)))
    datagram = taskio.genl_message(31, taskio.TASKSTATS_CMD_NEW, task + group, seq=5, flags=0) * 2
    messages = list(taskio.iter_messages(datagram))
    assert len(messages) == 2 and messages[0][0] == 31 and messages[0][2] == 5
    assert [ev.pid for ev in taskio.exits_in(messages[0][4])] == [11]
    assert taskio.exits_in(messages[0][4])[0].write_bytes == 4096


class FakeProc:
    """A fake /proc: pids alive (or zombie) with their cgroup paths and command lines."""

    def __init__(self):
        self.cgroups: dict[int, frozenset[str]] = {1: OUT, SHIM: OUT}
        self.cmdlines: dict[int, list[str]] = {
            1: ["/sbin/init"],
            SHIM: ["/usr/bin/containerd-shim-runc-v2", "-namespace", "moby", "-id", CID,
                   "-address", "/run/containerd/containerd.sock"]}
        self.lookups = 0
        self.now = 1000.0

    def cgroup_of(self, pid):
        self.lookups += 1
        return self.cgroups.get(pid)

    def cmdline_of(self, pid):
        self.lookups += 1
        return self.cmdlines.get(pid)

    def clock(self):
        return self.now

    def engine(self, **kw) -> Attribution:
        return Attribution(self.cgroup_of, self.cmdline_of, self.clock, **kw)

    def gone(self, *pids):
        for pid in pids:
            self.cgroups.pop(pid, None)
            self.cmdlines.pop(pid, None)


def ex(pid, ppid, write=0, read=0, tgid=None, comm="sh"):
    return TaskExit(pid=pid, ppid=ppid, tgid=tgid or pid, comm=comm, read_bytes=read, write_bytes=write)


@pytest.fixture
def proc():
    return FakeProc()


def test_direct_children_then_the_init(proc):
    eng = proc.engine()
    eng.track("e", REL)
    proc.cgroups[INIT] = IN                       # init alive; its children already reaped
    eng.on_exit(ex(101, INIT, write=20 * MiB))
    eng.on_exit(ex(102, INIT, write=MiB, read=4096))
    proc.gone(INIT)
    eng.on_exit(ex(INIT, SHIM, write=4096))       # known by now: its children named it
    assert eng.finish("e") == IoFigures(4096, 21 * MiB + 4096, True, tasks=3)


def test_a_task_still_readable_is_placed_by_its_own_cgroup(proc):
    eng = proc.engine()
    eng.track("e", REL)
    proc.cgroups[101] = IN                        # a zombie: /proc/101/cgroup still reads
    eng.on_exit(ex(101, 999, write=MiB))          # parent unknown and gone
    assert eng.finish("e").write_bytes == MiB


def test_grandchildren_exiting_before_their_parents_record(proc):
    """A chain whose every member is gone when read waits for the first placeable ancestor."""
    eng = proc.engine()
    eng.track("e", REL)
    proc.cgroups[INIT] = IN
    eng.on_exit(ex(103, 102, write=MiB))          # 102, 101 already exited and reaped
    eng.on_exit(ex(104, 102, write=MiB))
    eng.on_exit(ex(102, 101, write=2 * MiB))
    assert eng.pending_for("e") == 3
    eng.on_exit(ex(101, INIT, write=5 * MiB))     # its parent, the init, is alive and inside
    assert eng.pending_for("e") == 0
    fig = eng.finish("e")
    assert (fig.write_bytes, fig.tasks, fig.exact) == (9 * MiB, 4, True)


def test_orphans_reparented_to_the_init(proc):
    """An orphan reports the container's init as parent; the init is the shim's child."""
    eng = proc.engine()
    eng.track("e", REL)
    eng.set_container("e", CID)
    # The orphan (its parent 101 exited long ago) and the init both exited and were reaped
    # before the listener read either record.
    eng.on_exit(ex(105, INIT, write=5 * MiB))
    assert eng.pending_for("e") == 1
    eng.on_exit(ex(INIT, SHIM, write=20 * MiB))   # placed by its parent, the container's shim
    fig = eng.finish("e")
    assert (fig.write_bytes, fig.tasks, fig.exact) == (25 * MiB, 2, True)


def test_seeded_init_places_orphans_at_once(proc):
    eng = proc.engine()
    eng.track("e", REL)
    eng.seed("e", [INIT])
    eng.on_exit(ex(105, INIT, write=MiB))
    assert eng.pending_for("e") == 0
    assert eng.finish("e").write_bytes == MiB


def test_threads_sum_and_are_credited_by_their_process(proc):
    eng = proc.engine()
    eng.track("e", REL)
    eng.seed("e", [200])
    proc.cgroups[400] = OUT                               # a foreign multi-threaded process
    for tid in (201, 202, 200):
        eng.on_exit(ex(tid, INIT, tgid=200, write=MiB))
        eng.on_exit(ex(tid + 200, 1, tgid=400, write=7 * MiB))
    fig = eng.finish("e")
    assert (fig.write_bytes, fig.tasks) == (3 * MiB, 3)


def test_foreign_processes_are_not_credited_and_are_cached(proc):
    eng = proc.engine()
    eng.track("e", REL)
    eng.set_container("e", CID)
    proc.cgroups[700] = OUT                               # a host shell
    eng.on_exit(ex(701, 700, write=MiB))
    looked = proc.lookups
    eng.on_exit(ex(702, 700, write=MiB))                  # same foreign parent: from the cache
    assert proc.lookups == looked + 1                     # only the task's own cgroup was tried
    eng.on_exit(ex(703, 0, write=MiB))                    # a kernel thread's child
    eng.on_exit(ex(704, SHIM, write=MiB, comm="runc"))    # runc helper of the shim, gone
    proc.cgroups[705] = OUT
    eng.on_exit(ex(705, SHIM, write=MiB, comm="x"))       # a shim child outside the cgroup
    fig = eng.finish("e")
    assert (fig.write_bytes, fig.tasks, fig.exact) == (0, 0, True)


def test_two_executions_each_get_their_own(proc):
    eng = proc.engine()
    eng.track("a", REL)
    eng.track("b", "/inst/actor/other")
    proc.cgroups[100] = IN
    proc.cgroups[200] = frozenset({"/inst/actor/other/xyz"})
    eng.on_exit(ex(101, 100, write=MiB))
    eng.on_exit(ex(201, 200, write=3 * MiB))
    assert eng.finish("a").write_bytes == MiB
    assert eng.finish("b").write_bytes == 3 * MiB


def test_a_sibling_cgroup_with_a_common_prefix_is_foreign(proc):
    eng = proc.engine()
    eng.track("e", "/inst/actor/exec")
    proc.cgroups[300] = frozenset({"/inst/actor/exec2/abc"})
    eng.on_exit(ex(301, 300, write=MiB))
    assert eng.finish("e").write_bytes == 0


def test_unplaced_records_expire_and_make_the_figures_inexact(proc):
    eng = proc.engine(max_age=5.0)
    eng.track("e", REL)
    proc.cgroups[INIT] = IN
    eng.on_exit(ex(101, INIT, write=MiB))
    eng.on_exit(ex(901, 900, write=MiB))                 # parent gone, its record never comes
    proc.now += 6
    eng.on_exit(ex(102, INIT, write=MiB))
    assert eng.pending_for("e") == 0
    fig = eng.finish("e")
    assert (fig.write_bytes, fig.exact) == (2 * MiB, False)
    assert "waited too long" in fig.reason


def test_records_still_unplaced_at_finish_make_it_inexact(proc):
    eng = proc.engine()
    eng.track("e", REL)
    eng.on_exit(ex(901, 900, write=MiB))
    fig = eng.finish("e")
    assert not fig.exact and "unplaced" in fig.reason


def test_too_many_unplaced_records(proc):
    eng = proc.engine(max_pending=3)
    eng.track("e", REL)
    for pid in range(901, 905):
        eng.on_exit(ex(pid, pid + 1000))
    assert eng.pending_for("e") == 3
    eng.on_exit(ex(2901, INIT))                          # even if the rest resolve...
    assert not eng.finish("e").exact                    # ...one record was dropped


def test_an_execution_followed_after_the_last_record_was_unplaced_stays_exact(proc):
    eng = proc.engine()
    eng.track("a", REL)
    eng.on_exit(ex(901, 900))
    eng.track("b", "/inst/actor/other")
    assert not eng.finish("a").exact
    assert eng.finish("b").exact


def test_overflow_makes_running_executions_inexact(proc):
    eng = proc.engine()
    eng.track("e", REL)
    eng.seed("e", [INIT])
    eng.on_exit(ex(101, INIT, write=MiB))
    eng.overflow()
    eng.track("later", "/inst/actor/later")
    fig = eng.finish("e")
    assert (fig.write_bytes, fig.exact) == (MiB, False) and "ENOBUFS" in fig.reason
    assert eng.finish("later").exact


def test_cached_pids_are_forgotten(proc):
    """A pid known inside is forgotten after its ttl, so a reused pid is looked up afresh."""
    eng = proc.engine(ttl=10)
    eng.track("e", REL)
    eng.seed("e", [INIT])
    proc.now += 11
    proc.cgroups[INIT] = OUT                             # the pid now names a host process
    eng.on_exit(ex(101, INIT, write=MiB))
    assert eng.finish("e").write_bytes == 0


def test_an_exited_process_is_forgotten_after_a_short_grace(proc):
    """Its children's records come right after its own; later, its pid may name another process."""
    eng = proc.engine(ttl=10, grace=2)
    eng.track("e", REL)
    eng.seed("e", [INIT])
    eng.on_exit(ex(101, INIT, write=MiB))
    eng.on_exit(ex(102, 101, write=MiB))             # 101's child, a moment later: still known
    proc.now += 3
    proc.cgroups[101] = OUT                           # pid 101 reused by a host process
    eng.on_exit(ex(103, 101, write=MiB))
    fig = eng.finish("e")
    assert (fig.write_bytes, fig.tasks) == (2 * MiB, 2)


def test_a_foreign_exited_pid_reused_inside_is_placed_afresh(proc):
    eng = proc.engine(ttl=10, grace=2)
    eng.track("e", REL)
    proc.cgroups[700] = OUT
    eng.on_exit(ex(701, 700))                         # 700 cached as foreign (alive)
    eng.on_exit(ex(700, 1))                           # then 700 exits
    proc.now += 3
    proc.cgroups[700] = IN                            # and its pid now names a container process
    eng.on_exit(ex(702, 700, write=MiB))
    assert eng.finish("e").write_bytes == MiB


def test_a_thread_exit_does_not_end_its_process(proc):
    eng = proc.engine(ttl=10, grace=2)
    eng.track("e", REL)
    proc.cgroups[200] = IN
    eng.on_exit(ex(201, INIT, tgid=200, write=MiB))   # placed by the process's cgroup
    proc.gone(200)
    proc.now += 5
    eng.on_exit(ex(202, INIT, tgid=200, write=MiB))   # the process is still cached
    assert eng.finish("e").write_bytes == 2 * MiB


def test_records_are_ignored_when_nothing_is_followed(proc):
    eng = proc.engine()
    eng.on_exit(ex(901, 900, write=MiB))
    assert proc.lookups == 0


class FakeListener:
    def __init__(self, on_exit, on_overflow, on_stop):
        self.on_exit, self.on_overflow, self.on_stop = on_exit, on_overflow, on_stop
        self.closed = False

    def barrier(self, timeout=5.0):
        return True

    def close(self):
        self.closed = True


def test_collector_api(proc):
    col = TaskIO(FakeListener, proc.engine())
    assert col.available
    with col.follow("e", REL, container_id=CID) as f:
        f.seed([INIT])
        col.listener.on_exit(ex(101, INIT, write=MiB, read=8192))
        col.listener.on_exit(ex(INIT, SHIM, write=MiB))
        fig = f.result(settle_seconds=0)
    assert fig == IoFigures(8192, 2 * MiB, True, tasks=2)
    assert f.result() is fig
    col.close()
    assert col.listener.closed


def test_collector_without_taskstats_says_so():
    def refuse(*_):
        raise PermissionError(1, "Operation not permitted")
    col = TaskIO(refuse)
    assert not col.available and "not permitted" in col.error
    with col.follow("e", REL) as f:
        fig = f.result()
    assert not fig.exact and "unavailable" in fig.reason


def test_a_stopped_listener_makes_figures_inexact(proc):
    col = TaskIO(FakeListener, proc.engine())
    with col.follow("e", REL) as f:
        col.listener.on_stop("taskstats listener failed: boom")
        assert not col.available
        assert not f.result(settle_seconds=0).exact

