"""Warm actors on the worker's side: a long-lived container per worker, exact accounting per message.

An actor registered with ``"warm": true`` keeps one container per worker, whose only
process is the runner (``actors/warm_runner.py``, mounted read-only). For each message
the worker sends the runner the image's command and the message's environment (built
by ``ExecutionRun.environment``, as for a fresh container); the runner forks a child
that waits; the worker creates the execution's cgroup *under the container's* with the
execution's limits, moves the child's host pid into it (in every accounting hierarchy
on cgroup v1) and only then lets it exec. So CPU, memory peak, io, pids and every limit
hold per execution as exactly as in a fresh container: an OOM or a budget kill ends
only that execution's cgroup, never the runner.

Guarantees:
- A warm container serves one sender (``_abaco_username``) only, unless the actor sets
  ``warm_shared`` (and does not run as the executor's UID): a message of another sender
  replaces it first. Files one sender's executions leave in ``/tmp`` are seen by that
  sender's later executions only.
- It is replaced after ``warm_max_executions`` executions, ``warm_idle_seconds`` idle,
  and after an execution that changed what the runner cannot undo (it reports it).
- Nothing an execution started outlives it: its cgroup is emptied and removed before the
  record is written. Results and the binary FIFO are per message, at the contract's paths.
- A runner that dies mid-execution is replaced and the message runs once more in the new
  container, as attempt 2; a second crash ends it as ERROR.
- What cannot run warm (an image without ``python3``, an execution that needs the HTTPS
  relay) runs as a fresh container, and its status message says why.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import select
import shutil
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import docker.errors

from actors import limits as limits_mod
from actors import sandbox, times
from actors.binary_fifo import FifoWriter
from actors.codes import ExecutionStatus
from actors.config import Config
from actors.execution import API_SOCKET_PATH, BINARY_PATH, RESULTS_PATH, _Watch, log_expiry
from actors.message import BINARY
from actors.readiness import NotReady, wait_until
from actors.runtime import cgroups
from actors.runtime.docker import LABEL_ACTOR, LABEL_INSTANCE, LABEL_WORKER, ContainerSpec, DockerRuntime
from actors.store import Stores

log = logging.getLogger(__name__)

LABEL_WARM = "abaco.warm"
RUNNER_SOURCE = Path(__file__).with_name("warm_runner.py")
RUNNER_PATH = "/_abaco_runner.py"
CONTROL_PATH = "/_abaco_runner.sock"
RUNNER_COMMAND = ("python3", "-I", "-S", RUNNER_PATH)
# A warm_function imports the image's own modules: its site-packages and PYTHONPATH count.
FUNCTION_RUNNER_COMMAND = ("python3", RUNNER_PATH)
WARM_PREFIX = "warm-"
ACCOUNTED = ("cpu", "cpuacct", "memory", "pids", "blkio")   # the v1 hierarchies an execution moves in
SHARED = "*"
UNAVAILABLE_RETRY = 60.0     # seconds before an image that could not run warm is tried again


class WarmUnavailable(Exception):
    """No warm container could serve this message; it runs as a fresh container."""


class RunnerCrashed(Exception):
    """The runner's connection broke (the runner or its container died)."""


# ---------------------------------------------------------------- decisions


def pool_key(actor: dict, executor: str) -> str:
    """Whose messages a warm container may serve: its one sender, or anyone when shared."""
    if actor.get("warm_shared") and not actor.get("run_as_executor"):
        return SHARED
    return executor


def max_executions(config: Config, actor: dict) -> int:
    wanted = actor.get("warm_max_executions")
    cap = config.workers.warm_max_executions
    return max(1, min(int(wanted), cap) if wanted else cap)


def replace_reason(key: str, executions: int, idle: float, wanted_key: str, limit: int,
                   idle_limit: float, alive: bool) -> str | None:
    """Why the current warm container must not serve the next message (None: it may)."""
    if not alive:
        return "its runner is gone"
    if key != wanted_key:
        return "a message of another sender"
    if executions >= limit:
        return f"it ran {executions} executions (warm_max_executions {limit})"
    if idle_limit and idle > idle_limit:
        return f"idle for {idle:.0f} s (warm_idle_seconds {idle_limit:g})"
    return None


def cold_reason(run) -> str | None:
    """Why this execution cannot run in a warm container (None: it can)."""
    workers = run.config.workers
    if workers.api_relay and run.needs_api_socket() and workers.container_network == "none" \
            and run.config.api_socket.exists():
        return "it calls the API over its own HTTPS relay, which a warm container does not have"
    return None


def parent_cgroup(instance: str, actor_id: str, worker_id: str) -> str:
    """The cgroup parent of a worker's warm containers, beside the actor's execution cgroups."""
    return f"/{instance}/{actor_id}/{WARM_PREFIX}{worker_id}"


def worker_of(cgroup_name: str) -> str | None:
    """The worker whose warm containers a child cgroup of an actor holds, or None."""
    return cgroup_name[len(WARM_PREFIX):] if cgroup_name.startswith(WARM_PREFIX) else None


def nspids(status_text: str) -> list[int]:
    """The ``NSpid`` line of /proc/<pid>/status: the pid in each namespace, outermost first."""
    for line in status_text.splitlines():
        if line.startswith("NSpid:"):
            return [int(p) for p in line.split()[1:]]
    return []


def host_pid(inner: int, candidates: list[int], status_of: Callable[[int], str]) -> int | None:
    """The host pid of the process whose pid in its own namespace is ``inner``."""
    for pid in candidates:
        try:
            ids = nspids(status_of(pid))
        except OSError:
            continue
        if len(ids) > 1 and ids[-1] == inner:
            return pid
    return None


def _status(pid: int) -> str:
    return Path(f"/proc/{pid}/status").read_text()


# ---------------------------------------------------------------- cgroups


class Placement:
    """Moves a process into an execution's cgroup and empties that cgroup again."""

    def __init__(self, tree: cgroups.CgroupTree):
        self.tree = tree

    def _procs_files(self, cgroup: str) -> list[Path]:
        rel = cgroup.strip("/")
        if self.tree.version == 2:
            return [self.tree.root / rel / "cgroup.procs"]
        return [self.tree.root / ctl / rel / "cgroup.procs" for ctl in ACCOUNTED
                if (self.tree.root / ctl / rel).is_dir()]

    def prepare(self, container_cgroup: str) -> None:
        """On cgroup v2 a cgroup with processes cannot hand controllers to children:
        the runner moves to a leaf of its own first. (v1 needs nothing.)"""
        if self.tree.version != 2:
            return
        leaf = self.tree.root / container_cgroup.strip("/") / "runner"
        leaf.mkdir(exist_ok=True)
        for pid in (self.tree.root / container_cgroup.strip("/") / "cgroup.procs").read_text().split():
            (leaf / "cgroup.procs").write_text(pid)

    def move(self, cgroup: str, pid: int) -> None:
        files = self._procs_files(cgroup)
        if not files:
            raise OSError(f"cgroup {cgroup} does not exist")
        for procs in files:
            procs.write_text(str(pid))

    def remove(self, cgroup: str) -> None:
        """Remove an emptied execution cgroup from the hierarchies it was made in (the general
        ``cgroups.remove`` reads the mount table and walks every hierarchy: kept as the fallback)."""
        rel = cgroup.strip("/")
        dirs = [self.tree.root / rel] if self.tree.version == 2 else \
            [self.tree.root / ctl / rel for ctl in ACCOUNTED]
        try:
            for d in dirs:
                try:
                    os.rmdir(d)
                except FileNotFoundError:
                    pass
        except OSError:
            cgroups.remove(cgroup)

    def kill_all(self, cgroup: str, sig: int = signal.SIGKILL, timeout: float = 5.0) -> bool:
        """Signal every process in the cgroup until none is left (SIGKILL) or once (others)."""
        deadline = time.monotonic() + timeout
        while True:
            left = cgroups.pids(cgroup, self.tree.root)
            if not left:
                return True
            for pid in left:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            if sig != signal.SIGKILL or time.monotonic() > deadline:
                return not cgroups.pids(cgroup, self.tree.root)
            time.sleep(0.002)


# ---------------------------------------------------------------- the container's sockets


class Channel:
    """JSON lines with the runner on one stream connection."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = b""

    def send(self, obj: dict) -> None:
        try:
            self.sock.sendall(json.dumps(obj).encode() + b"\n")
        except OSError as exc:
            raise RunnerCrashed(f"the runner's socket failed: {exc}") from exc

    def receive(self, timeout: float | None) -> dict | None:
        """The next object, or None when ``timeout`` seconds pass without one."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                return None
            try:
                data = self.sock.recv(1 << 20)
            except OSError as exc:
                raise RunnerCrashed(f"the runner's socket failed: {exc}") from exc
            if not data:
                raise RunnerCrashed("the runner closed its socket")
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return json.loads(line)

    def idle_ok(self) -> bool:
        """Between executions the runner says nothing: anything readable means it is gone."""
        try:
            ready, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not ready

    def close(self) -> None:
        self.sock.close()


class SwitchingResults(threading.Thread):
    """The results socket of a warm container, its datagrams stored under the current execution.

    The execution's processes are all gone before ``end`` drains the socket, so every
    datagram it sent is stored under it and none under the next one.
    """

    def __init__(self, path: Path, stores: Stores):
        super().__init__(daemon=True, name=f"warm-results-{path.parent.name}")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind(str(path))
        os.chmod(path, 0o666)
        self.sock.setblocking(False)
        self.stores = stores
        self.lock = threading.Lock()
        self.target: tuple[str, int, int] | None = None
        self.count = self.dropped = self.stray = 0
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select([self.sock], [], [], 0.2)
            except (OSError, ValueError):
                return
            if ready:
                with self.lock:
                    self._drain()

    def _drain(self) -> None:
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except (BlockingIOError, OSError):
                return
            if self.target is None:
                self.stray += 1
                continue
            execution_id, max_bytes, ttl = self.target
            if self.stores.results.append_list(execution_id, data, max_bytes, ttl):
                self.count += 1
            else:
                self.dropped += 1

    def switch(self, execution_id: str, max_bytes: int, ttl: int) -> None:
        with self.lock:
            self._drain()
            self.target = (execution_id, max_bytes, ttl)
            self.count = self.dropped = 0

    def end(self) -> tuple[int, int]:
        """Store what is queued; (results stored, results dropped) of the execution."""
        with self.lock:
            self._drain()
            self.target = None
            return self.count, self.dropped

    def close(self) -> None:
        self._stopping.set()
        self.join(timeout=2)
        self.sock.close()


# ---------------------------------------------------------------- one warm container


@dataclass
class WarmContainer:
    key: str
    container_id: str
    cgroup: str                         # the container's own cgroup (Docker's <parent>/<id>)
    folder: Path
    channel: Channel
    listener: socket.socket
    results: SwitchingResults
    fifo: Path
    argv: list[str]
    cwd: str
    executions: int = 0
    last_used: float = field(default_factory=time.monotonic)

    def release(self, runtime: DockerRuntime) -> None:
        runtime.remove(self.container_id)
        self.channel.close()
        self.listener.close()
        self.results.close()
        shutil.rmtree(self.folder, ignore_errors=True)
        cgroups.remove(self.cgroup)


def image_command(runtime: DockerRuntime, image: str, needed: bool = True) -> tuple[list[str], str]:
    """The image's command (ENTRYPOINT + CMD) and working folder, as a fresh container runs them."""
    try:
        cfg = runtime.docker.api.inspect_image(image).get("Config") or {}
    except docker.errors.DockerException as exc:
        raise WarmUnavailable(f"the image could not be inspected: {exc}") from exc
    argv = list(cfg.get("Entrypoint") or []) + list(cfg.get("Cmd") or [])
    if not argv and needed:
        raise WarmUnavailable("the image has no command")
    return argv, cfg.get("WorkingDir") or "/"


class WarmPool:
    """The warm container of one worker (at most one at a time), and running messages in it."""

    def __init__(self, config: Config, stores: Stores, runtime: DockerRuntime, tree: cgroups.CgroupTree,
                 worker_id: str, actor_id: str):
        self.config, self.stores, self.runtime, self.tree = config, stores, runtime, tree
        self.worker_id, self.actor_id = worker_id, actor_id
        self.place = Placement(tree)
        self.current: WarmContainer | None = None
        self.busy = False
        self.lock = threading.Lock()
        self.started = 0
        self.unavailable: dict[str, tuple[float, str]] = {}   # image -> (when, why) it could not run warm

    # ------------------------------------------------------------ containers

    def take(self, run) -> WarmContainer:
        key = pool_key(run.actor, run.message.executor)
        with self.lock:
            wc = self.current
            if wc is not None:
                why = replace_reason(wc.key, wc.executions, time.monotonic() - wc.last_used, key,
                                     max_executions(self.config, run.actor),
                                     self.config.workers.warm_idle_seconds, wc.channel.idle_ok())
                if why:
                    self._retire(why)
            if self.current is None:
                self.current = self._start(run, key)
            self.busy = True
            return self.current

    def give_back(self, wc: WarmContainer, replace: str | None = None) -> None:
        with self.lock:
            self.busy = False
            wc.executions += 1
            wc.last_used = time.monotonic()
            if replace and self.current is wc:
                self._retire(replace)

    def expire(self) -> None:
        """Remove the warm container once idle past warm_idle_seconds (the worker calls this)."""
        idle = self.config.workers.warm_idle_seconds
        if not self.lock.acquire(blocking=False):
            return
        try:
            wc = self.current
            if wc is not None and not self.busy and idle and time.monotonic() - wc.last_used > idle:
                self._retire(f"idle for more than warm_idle_seconds ({idle:g} s)")
        finally:
            self.lock.release()

    def close(self) -> None:
        with self.lock:
            if self.current is not None:
                try:
                    self._retire("the worker stops")
                except Exception:  # noqa: BLE001 - the worker exits anyway; health removes what is left
                    log.exception("worker %s could not remove its warm container", self.worker_id)
        cgroups.remove(parent_cgroup(self.config.general.instance, self.actor_id, self.worker_id))

    def _retire(self, why: str) -> None:
        wc, self.current = self.current, None
        if wc is not None:
            log.info("warm container %s of worker %s replaced: %s", wc.container_id[:12], self.worker_id, why)
            if "runner" in why:                 # say why it died, from its own output
                try:
                    tail = self.runtime.docker.api.logs(wc.container_id, tail=20).decode(errors="replace")
                    log.warning("the runner of warm container %s said: %s", wc.container_id[:12], tail[-2000:])
                except Exception as exc:  # noqa: BLE001 - only a diagnosis
                    log.warning("the output of warm container %s could not be read: %s", wc.container_id[:12], exc)
            wc.release(self.runtime)

    def _start(self, run, key: str) -> WarmContainer:
        cfg, actor = self.config, run.actor
        argv, cwd = image_command(self.runtime, actor["image"], needed=not actor.get("warm_function"))
        self.started += 1
        folder = cfg.run_dir / "warm" / f"{self.worker_id}-{self.started}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, mode=0o755)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(folder / "control.sock"))
        os.chmod(folder / "control.sock", 0o666)
        listener.listen(1)
        listener.setblocking(False)
        results = SwitchingResults(folder / "results.sock", self.stores)
        results.start()
        fifo = folder / "binary"
        os.mkfifo(fifo, 0o666)
        os.chmod(fifo, 0o666)
        shutil.copyfile(RUNNER_SOURCE, folder / "runner.py")
        os.chmod(folder / "runner.py", 0o644)
        parent = parent_cgroup(cfg.general.instance, actor["id"], self.worker_id)
        self.tree.create(cgroups.actor_path(cfg.general.instance, actor["id"]), limits_mod.for_actor(cfg))
        self.tree.create(parent, limits_mod.Limits())
        container_id = None
        try:
            container = self.runtime.start(self._spec(run, folder, parent))
            container_id = container.id
            conn = self._accept(listener, container)
            channel = Channel(conn)
            hello = channel.receive(cfg.workers.warm_start_timeout)
            if not hello or not hello.get("ready"):
                raise WarmUnavailable("the runner did not say it was ready")
            cgroup = f"{parent}/{container.id}"
            if not cgroups.pids(cgroup, self.tree.root):
                raise WarmUnavailable(f"the container's cgroup {cgroup} was not found")
            self.place.prepare(cgroup)
        except (WarmUnavailable, RunnerCrashed, NotReady, docker.errors.DockerException, OSError) as exc:
            if container_id:
                self.runtime.remove(container_id)
            listener.close()
            results.close()
            shutil.rmtree(folder, ignore_errors=True)
            raise WarmUnavailable(f"no warm container: {exc}") from exc
        log.info("warm container %s started for worker %s", container.id[:12], self.worker_id)
        return WarmContainer(key, container.id, cgroup, folder, channel, listener, results, fifo, argv, cwd)

    def _spec(self, run, folder: Path, parent: str) -> ContainerSpec:
        cfg, actor = self.config, run.actor
        box = sandbox.confine(cfg, actor, run.message.executor)
        binds = [(str(folder / "runner.py"), RUNNER_PATH, True), (str(folder / "control.sock"), CONTROL_PATH, False),
                 (str(folder / "results.sock"), RESULTS_PATH, False), (str(folder / "binary"), BINARY_PATH, True)]
        if run.needs_api_socket() and cfg.api_socket.exists():
            binds.append((str(cfg.api_socket), API_SOCKET_PATH, False))
        labels = {LABEL_INSTANCE: cfg.general.instance, LABEL_ACTOR: actor["id"], LABEL_WORKER: self.worker_id,
                  LABEL_WARM: "1"}
        return ContainerSpec(
            image=actor["image"], environment={}, labels=labels, cgroup_parent=parent,
            network_mode=cfg.workers.container_network, binds=binds + list(box.binds),
            privileged=bool(actor.get("privileged")), user=box.user, cap_drop=box.cap_drop, cap_add=box.cap_add,
            security_opt=box.security_opt, read_only=box.read_only, tmpfs=box.tmpfs,
            entrypoint=list(FUNCTION_RUNNER_COMMAND if actor.get("warm_function") else RUNNER_COMMAND))

    def _accept(self, listener: socket.socket, container) -> socket.socket:
        checked = [time.monotonic()]

        def accepted():
            ready, _, _ = select.select([listener], [], [], 0.05)
            if ready:
                conn, _ = listener.accept()
                conn.setblocking(True)
                return conn
            return None

        def alive() -> bool:
            if time.monotonic() - checked[0] < 0.5:
                return True
            checked[0] = time.monotonic()
            container.reload()
            return container.status in ("created", "running")

        try:
            return wait_until(accepted, self.config.workers.warm_start_timeout, "the warm runner to connect",
                              interval=0.0, alive=alive)
        except NotReady as exc:
            state = (container.attrs.get("State") or {})
            raise WarmUnavailable(f"its runner did not start (python3 missing from the image?): "
                                  f"exit code {state.get('ExitCode')}, {state.get('Error') or exc}") from None

    # ------------------------------------------------------------ executions

    def execute(self, run, execution: dict) -> tuple[bool, dict | None]:
        """Run the message in a warm container: (True, record), or (False, None) to run it cold."""
        why = cold_reason(run)
        if why:
            run.notes.append(f"ran as a fresh container: {why}")
            return False, None
        image = run.actor["image"]
        known = self.unavailable.get(image)
        if known and time.monotonic() - known[0] < UNAVAILABLE_RETRY:
            run.notes.append(f"ran as a fresh container: {known[1]}")
            return False, None
        attempt = 1
        while True:
            try:
                wc = self.take(run)
            except WarmUnavailable as exc:
                with self.lock:
                    self.busy = False
                self.unavailable[image] = (time.monotonic(), str(exc))
                log.warning("execution %s runs cold: %s", run.execution_id, exc)
                run.notes.append(f"ran as a fresh container: {exc}")
                return False, None
            try:
                return True, self._run_in(wc, run, execution)
            except RunnerCrashed as exc:
                self.place.kill_all(run.cgroup)
                cgroups.remove(run.cgroup)
                with self.lock:
                    self.busy = False
                    if self.current is wc:
                        self._retire(f"its runner crashed: {exc}")
                if run.requeue:
                    self.stores.executions.update(run.execution_id, {
                        "status": ExecutionStatus.SUBMITTED, "status_message": "requeued: its worker was shut down"})
                    return True, None
                if attempt >= 2:
                    run.notes.append(f"the warm runner crashed again ({exc})")
                    return True, run._finish(ExecutionStatus.ERROR, "; ".join(run.notes), {})
                attempt += 1
                attempts = int(execution.get("attempts") or 1) + 1
                run.notes.append(f"attempt {attempts}: the warm runner crashed ({exc}); run again in a new container")
                execution = self.stores.executions.update(run.execution_id, {
                    "attempts": attempts, "status_message": run.notes[-1]}) or execution
            except BaseException:
                self.place.kill_all(run.cgroup)      # a platform fault: the worker retries the message
                with self.lock:
                    self.busy = False
                    if self.current is wc:
                        self._retire("a platform fault during an execution")
                raise

    def _run_in(self, wc: WarmContainer, run, execution: dict) -> dict | None:
        cfg, eid = self.config, run.execution_id
        # Under the container's cgroup: if the worker dies, health removes it with the container's
        # (see worker_of), so no installation record is needed.
        run.cgroup = f"{wc.cgroup}/{eid}"
        limits, budget = limits_mod.for_execution(cfg, run.actor)
        unsupported = self.tree.create(run.cgroup, limits)
        wc.results.switch(eid, cfg.workers.max_results_bytes, cfg.store.results_ttl)
        fifo = FifoWriter(wc.fifo, run.message.body, existing=True) if run.message.content_type == BINARY else None
        io = None
        report: dict | None = None
        try:
            wc.channel.send({"run": {"argv": wc.argv, "env": run.environment(execution), "cwd": wc.cwd,
                                     "log_limit": cfg.workers.max_log_length,
                                     "function": run.actor.get("warm_function") or ""}})
            reply = wc.channel.receive(cfg.workers.warm_start_timeout)
            if not reply or "child" not in reply:
                raise RunnerCrashed(f"the runner did not fork the execution: {reply}")
            pid = host_pid(int(reply["child"]), cgroups.pids(wc.cgroup, self.tree.root), _status)
            try:
                if pid is None:
                    raise OSError("its host pid was not found")
                self.place.move(run.cgroup, pid)
            except OSError as exc:
                wc.channel.send({"abort": str(exc)})
                wc.channel.receive(cfg.workers.warm_start_timeout)
                raise RunnerCrashed(f"the execution could not be placed in its cgroup: {exc}") from exc
            if run.taskio is not None:
                io = run.taskio.follow(eid, run.cgroup)   # not the container: its init is the runner
                io.seed([pid])
            run.container_id = wc.container_id
            run.stopper = lambda: self._stop(run)
            start_time = times.now()
            self.stores.executions.update(eid, {
                "status": ExecutionStatus.RUNNING, "start_time": start_time, "container_id": wc.container_id,
                "limits": limits.applied(), "limits_unsupported": sorted(set(unsupported))})
            run.notify("EXECUTION_STARTED", {"actor_id": run.actor["id"], "execution_id": eid,
                                             "worker_id": run.worker_id, "link_depth": run.message.link_depth})
            began = time.monotonic()
            watch = _Watch(started=began)
            wc.channel.send({"go": True})
            report = self._wait(wc, run, budget, watch, io)
            ended = time.monotonic()
            self.place.kill_all(run.cgroup)          # what the command left running ends with it
            usage = self.tree.sample(run.cgroup)
            count, dropped = wc.results.end()
        finally:
            run.stopper = None
            if fifo is not None:
                fifo.close()
            if io is not None and report is None:
                io.result(0, 0)                      # let it go: the runner failed
        logs = base64.b64decode(report.get("log") or "")
        truncated = bool(report.get("truncated"))
        self.stores.logs.set(eid, logs, ttl=log_expiry(cfg, run.actor))
        if run.live is not None:
            run.live.finish(logs.decode(errors="replace"))
        oom = bool(usage.oom_kills)
        status = run.outcome(oom, limits.memory_max, watch.limit_reason, truncated, dropped)
        changed = list(report.get("changed") or [])
        try:
            return self._record(wc, run, report, usage, watch, io, status, began, ended, start_time,
                                count, truncated, oom)
        finally:                                  # after the record: a synchronous sender has its answer
            self.place.remove(run.cgroup)
            self.give_back(wc, replace=f"the execution changed {', '.join(changed)}" if changed else None)

    def _record(self, wc: WarmContainer, run, report: dict, usage: cgroups.Usage, watch, io, status: str,
                began: float, ended: float, start_time: str, count: int, truncated: bool, oom: bool) -> dict | None:
        """The terminal record of a warm execution, with the same figures as a fresh container's."""
        if run.requeue:
            if io is not None:
                io.result(0, 0)
            self.stores.executions.update(run.execution_id, {
                "status": ExecutionStatus.SUBMITTED, "status_message": "requeued: its worker was shut down"})
            return None
        code = int(report.get("exit", -1))
        state = {"Status": "exited", "ExitCode": code, "OOMKilled": oom, "Warm": True,
                 "ContainerId": wc.container_id, "StartedAt": start_time, "FinishedAt": times.now()}
        peak = max(usage.memory_peak, watch.memory_peak)
        figures = {
            "exit_code": code, "final_state": state, "runtime": round(ended - began, 6),
            "cpu": usage.cpu_ns, "cpu_user": usage.cpu_user_ns, "cpu_system": usage.cpu_system_ns,
            **run._io_figures(usage, watch, io),
            "memory_peak": peak, "mem_gbs": watch.memory_gb_seconds(ended, peak),
            "pids_peak": max(usage.pids_current, watch.pids_peak),
            "has_results": count > 0, "logs_truncated": truncated,
        }
        if io is not None:
            io.result(0, 0)
        return run._finish(status, "; ".join(run.notes), figures)

    def _wait(self, wc: WarmContainer, run, budget: limits_mod.Budget, watch, io) -> dict:
        """The runner's exit report, sampling the execution's cgroup and enforcing its budget meanwhile."""
        interval = max(0.05, self.config.limits.sample_interval)
        started = time.monotonic()
        while True:
            report = wc.channel.receive(interval)
            if report is not None:
                return report
            usage = self.tree.sample(run.cgroup)
            pids = cgroups.pids(run.cgroup, self.tree.root)
            if io is not None:
                io.seed(pids)
            watch.add(usage, cgroups.process_io_bytes(pids), time.monotonic())
            if watch.limit_reason:
                continue
            watch.limit_reason = budget.overrun(usage.cpu_ns, time.monotonic() - started)
            if watch.limit_reason:
                log.info("execution %s %s", run.execution_id, watch.limit_reason)
                self.place.kill_all(run.cgroup)

    def _stop(self, run) -> None:
        """Force-quit or shutdown: SIGTERM the execution's processes, SIGKILL them after the grace."""
        cgroup = run.cgroup
        self.place.kill_all(cgroup, signal.SIGTERM)
        deadline = time.monotonic() + self.config.workers.stop_grace
        while time.monotonic() < deadline and cgroups.pids(cgroup, self.tree.root):
            time.sleep(0.05)
        self.place.kill_all(cgroup)
