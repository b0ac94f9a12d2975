"""Running one execution: the container contract of DESIGN.md, from message to record.

The worker hands an ``ExecutionRun`` a message taken from the actor's mailbox. The run
prepares the execution's scratch folder (results socket, binary FIFO), starts the
container in its own cgroup, waits for it, gathers logs, results, exit state and
usage, and writes the terminal record. The worker acknowledges the message only after
``run`` returns, so a crash before the record is written leaves the message queued.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import docker.errors
import requests

from actors import api_relay, auth, ca_trust, configs, livelog, message_env, sandbox, times, worker_clients
from actors import limits as limits_mod
from actors.binary_fifo import FifoWriter
from actors.codes import EXECUTION_TERMINAL, ExecutionStatus, WorkerStatus
from actors.config import Config
from actors.errors import AbacoError
from actors.installations import Installations
from actors.message import BINARY, JSON, Message
from actors.process import pid_alive
from actors.runtime import cgroups
from actors.runtime.docker import (
    LABEL_ACTOR,
    LABEL_EXECUTION,
    LABEL_INSTANCE,
    LABEL_WORKER,
    ContainerSpec,
    DockerRuntime,
)
from actors.runtime.taskio import Follow, TaskIO
from actors.store import Stores
from actors.usage_series import UsageSeries

log = logging.getLogger(__name__)

RESULTS_PATH = "/_abaco_results.sock"
BINARY_PATH = "/_abaco_binary_data"
API_SOCKET_PATH = "/_abaco_api.sock"
MESSAGE_JSON = "_abaco_message_json"   # a JSON message's text, beside MSG
EXECUTION_TOKEN_TTL = 30 * 86400   # its end revokes it sooner (see actors/auth.py)


class ResultsCollector(threading.Thread):
    """Receives the datagrams a container sends to its results socket."""

    def __init__(self, path: Path, stores: Stores, execution_id: str, max_bytes: int, ttl: int = 0):
        super().__init__(daemon=True, name=f"results-{execution_id}")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind(str(path))
        os.chmod(path, 0o666)          # containers may run as any user
        self.sock.settimeout(0.1)
        self.stores, self.execution_id, self.max_bytes, self.ttl = stores, execution_id, max_bytes, ttl
        self.count = 0
        self.dropped = 0
        self._stop_flag = threading.Event()
        self.path = path
        self._wake = os.urandom(16)    # sent by finish() after whatever is queued; no container knows it

    def run(self) -> None:
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                if self._stop_flag.is_set():
                    break
                continue
            except OSError:
                break
            if data == self._wake:
                break
            if self.stores.results.append_list(self.execution_id, data, self.max_bytes, self.ttl):
                self.count += 1
            else:
                self.dropped += 1

    def finish(self) -> None:
        """Drain what is queued on the socket, then stop (at once: a datagram of its own comes last)."""
        self._stop_flag.set()
        if self.is_alive():
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as waker:
                    waker.setblocking(False)
                    waker.sendto(self._wake, str(self.path))
            except OSError:
                pass                   # the socket is full or gone: the receive timeout ends it
        self.join(timeout=5)
        self.sock.close()


@dataclass
class Staged:
    """An execution made ready up to ``docker start`` (see ``ExecutionRun.stage``)."""

    collector: ResultsCollector
    fifo: FifoWriter | None = None
    container: Any = None             # the created docker-py Container; None if creating it failed
    limits: limits_mod.Limits = field(default_factory=limits_mod.Limits)
    budget: limits_mod.Budget = field(default_factory=limits_mod.Budget)
    unsupported: list[str] = field(default_factory=list)
    io: Follow | None = None
    attempt: Any = None               # the execution's attempts count it was made for


@dataclass
class _Watch:
    """What sampling a running execution saw."""

    started: float = 0.0             # time.monotonic() when the container started
    io_bytes: int = 0
    memory_peak: int = 0
    pids_peak: int = 0
    samples: int = 0
    limit_reason: str = ""
    memory_byte_seconds: float = 0.0
    last_at: float | None = None
    last_memory: int = 0
    series: UsageSeries = field(default_factory=UsageSeries)   # the points the dashboard plots

    def add(self, usage: cgroups.Usage, io_bytes: int, at: float) -> None:
        self.samples += 1
        self.series.add(at - self.started, usage.cpu_ns, usage.memory_current)
        self.io_bytes = max(self.io_bytes, io_bytes)
        self.memory_peak = max(self.memory_peak, usage.memory_peak, usage.memory_current)
        self.pids_peak = max(self.pids_peak, usage.pids_current)
        memory = usage.memory_current
        if self.last_at is None:           # from the start to the first sample: that sample's value
            self.memory_byte_seconds += memory * max(0.0, at - self.started)
        else:                              # between two samples: their mean (trapezoid rule)
            self.memory_byte_seconds += (memory + self.last_memory) / 2 * max(0.0, at - self.last_at)
        self.last_at, self.last_memory = at, memory

    def memory_gb_seconds(self, ended: float, peak: int) -> float:
        """The integral of memory use over the run, in GB·s (SGE's ``mem``).

        From the samples; after the last one its value is held until the end. An
        execution too short for any sample is counted at its peak for its whole run.
        """
        if self.last_at is None:
            return round(peak * max(0.0, ended - self.started) / 1e9, 9)
        held = self.last_memory * max(0.0, ended - self.last_at)
        return round((self.memory_byte_seconds + held) / 1e9, 9)


def message_variables(msg: Message) -> dict[str, str]:
    """``MSG`` as Abaco sets it, and a JSON message's own text in ``_abaco_message_json``.

    A JSON message's ``MSG`` is Python's ``str()`` of its value (``{'k': 'v'}``), which
    agavepy's ``get_context`` parses with ``ast.literal_eval``; a string message is the
    string itself, and a binary one (read from the FIFO) leaves ``MSG`` empty.
    """
    if msg.content_type == BINARY:
        return {"MSG": ""}
    text = msg.body.decode("utf-8", errors="replace")
    if msg.content_type != JSON:
        return {"MSG": text}
    try:
        value = json.loads(text)
    except ValueError:                  # the API checked it; should it not parse, pass it as sent
        return {"MSG": text, MESSAGE_JSON: text}
    return {"MSG": str(value), MESSAGE_JSON: text}


def log_expiry(config: Config, actor: dict) -> int:
    """Seconds an execution's logs are kept: the actor's log_ex within [store] max_log_ex."""
    wanted = actor.get("log_ex") or config.store.logs_ttl
    cap = config.store.max_log_ex
    return min(wanted, cap) if cap and wanted else (wanted or cap)


class ExecutionRun:
    """One message turned into one container and one terminal execution record."""

    def __init__(self, config: Config, stores: Stores, runtime: DockerRuntime, actor: dict,
                 worker_id: str, message: Message, tree: cgroups.CgroupTree | None = None,
                 account: Callable[[dict], None] | None = None,
                 notify: Callable[[str, dict], None] | None = None, taskio: TaskIO | None = None,
                 warm=None):
        self.config, self.stores, self.runtime = config, stores, runtime
        self.tree = tree or cgroups.CgroupTree()
        # Exact storage io on cgroup v1 (from the kernel's exit records); v2's io.stat is exact itself.
        self.taskio = taskio
        self.account = account                # publishes an accounting record
        self.notify = notify or (lambda event_type, payload: None)   # publishes an event
        self.actor, self.worker_id, self.message = actor, worker_id, message
        self.execution_id = message.execution_id
        self.container_id: str | None = None
        self.kill_reason: str | None = None   # set when the user force-quits
        self.requeue = False                  # set when the worker is shut down mid-run
        self.notes: list[str] = []            # what the status message will say
        self.cgroup = cgroups.execution_path(config.general.instance, actor["id"], self.execution_id)
        self.scratch = config.run_dir / "executions" / self.execution_id
        self.installations = Installations(config, stores)
        self.relay: api_relay.Relay | None = None
        self.live: livelog.Publisher | None = None   # the live log followers read (best effort)
        self.warm = warm                      # the worker's WarmPool (actors/warm.py), for warm actors
        self.stopper: Callable[[], None] | None = None   # ends a warm execution (its container stays)

    # ------------------------------------------------------------ contract

    def environment(self, execution: dict) -> dict[str, str]:
        actor, msg = self.actor, self.message
        # The sender's variables may not replace the owner's configs: those come after them.
        env = dict(actor.get("default_environment") or {})
        listed = configs.of_actor(self.stores, actor)       # read once for both rules
        env.update(message_env.keep(msg.env, actor, configs.has_secrets(listed)))
        env.update(configs.for_actor(self.config, self.stores, actor, listed))
        # The execution's own token acts only on this actor and stops when the execution ends;
        # the owner's OAuth token goes only to actors registered with "token": true, as in Abaco.
        own = self.execution_token()
        token = self._client_token() if actor.get("token") else own
        env.pop(MESSAGE_JSON, None)            # only the platform sets it, and only for a JSON message
        env.update(message_variables(msg))
        env.update({
            "_abaco_execution_id": self.execution_id,
            "_abaco_actor_id": actor["id"],
            "_abaco_actor_dbid": f"{actor.get('tenant', 'default')}_{actor['id']}",
            "_abaco_actor_name": actor.get("name") or "",
            "_abaco_actor_state": json.dumps(actor.get("state") if actor.get("state") is not None else {}),
            "_abaco_worker_id": self.worker_id,
            "_abaco_container_repo": actor["image"],
            "_abaco_username": msg.executor,
            "_abaco_api_server": self.config.web.api_server,
            "_abaco_access_token": token,
            "_abaco_execution_token": own,
            "_abaco_Content_Type": msg.content_type,
            "_abaco_Content-Type": msg.content_type,     # the name agavepy's get_context reads
            "_abaco_jwt_header_name": "Authorization",
            "_abaco_execution_attempt": str(execution.get("attempts", 1)),
        })
        return env

    def execution_token(self) -> str:
        actor = self.actor
        return auth.issue_token(self.config, actor["owner"], "user", actor.get("tenant", "default"),
                                ttl=EXECUTION_TOKEN_TTL,
                                execution=(actor["id"], self.execution_id))

    def _client_token(self) -> str:
        """A fresh access token of this worker's OAuth client (see actors/clientg.py)."""
        try:
            return worker_clients.access_token(self.config, self.stores, self.worker_id)
        except AbacoError as exc:
            log.warning("worker %s has no access token for execution %s: %s",
                        self.worker_id, self.execution_id, exc.message)
            return ""

    def needs_api_socket(self) -> bool:
        """The API socket goes only to actors that call the API (stateful ones, token ones)."""
        actor = self.actor
        return self.config.workers.mount_api_socket and bool(actor.get("token") or not actor.get("stateless", True))

    def relay_needed(self) -> bool:
        workers = self.config.workers
        return workers.api_relay and self.needs_api_socket() and workers.container_network == "none" \
            and self.config.api_socket.exists()

    def start_relay(self) -> api_relay.Relay | None:
        """The execution's HTTPS relay, when it needs the API; None without one (a failure is noted)."""
        if not self.relay_needed():
            return None
        relay = api_relay.Relay(self.config, self.runtime, self.labels())
        try:
            relay.start()
        except api_relay.RelayError as exc:
            log.warning("execution %s runs without its HTTPS relay: %s", self.execution_id, exc)
            self.notes.append(f"no HTTPS relay to the API: {exc}")
            return None
        return relay

    def labels(self) -> dict[str, str]:
        return {LABEL_INSTANCE: self.config.general.instance, LABEL_ACTOR: self.actor["id"],
                LABEL_WORKER: self.worker_id, LABEL_EXECUTION: self.execution_id}

    def spec(self, execution: dict) -> ContainerSpec:
        actor = self.actor
        binds = [(str(self.scratch / "results.sock"), RESULTS_PATH, False)]
        if self.message.content_type == BINARY:
            binds.append((str(self.scratch / "binary"), BINARY_PATH, True))
        if self.needs_api_socket() and self.config.api_socket.exists():
            binds.append((str(self.config.api_socket), API_SOCKET_PATH, False))
        box = sandbox.confine(self.config, actor, self.message.executor)
        env = self.environment(execution)
        network = self.config.workers.container_network
        if self.relay is not None:             # HTTPS to the API on its own loopback (actors/api_relay.py)
            network = self.relay.network_mode
            binds.append((str(self.relay.ca), api_relay.CA_PATH, True))
            # clients that trust only certifi's bundle (agavepy) find the CA there too
            binds += ca_trust.binds(ca_trust.bundles_in(self.runtime.image_layers(actor["image"])),
                                    self.relay.ca, self.scratch)
            env.update({"_abaco_api_server": api_relay.API_SERVER, "REQUESTS_CA_BUNDLE": api_relay.CA_PATH,
                        "SSL_CERT_FILE": api_relay.CA_PATH})
        return ContainerSpec(
            image=actor["image"], environment=env,
            labels=self.labels(),
            cgroup_parent=self.cgroup, network_mode=network,
            binds=binds + list(box.binds), privileged=bool(actor.get("privileged")),
            user=box.user, cap_drop=box.cap_drop, cap_add=box.cap_add, security_opt=box.security_opt,
            read_only=box.read_only, tmpfs=box.tmpfs)

    # ------------------------------------------------------------ running

    def claim(self) -> dict | None:
        """Mark the execution as taken by this worker; None if it must not run."""
        execution = self.stores.executions.find(self.execution_id)
        if execution is None:
            return None
        if execution.get("status") in EXECUTION_TERMINAL:
            if not execution.get("accounted"):
                self.publish_accounting(execution)     # a crash came between record and ack
            return None
        if execution.get("status") == ExecutionStatus.RUNNING and self._still_running_elsewhere(execution):
            # A second delivery while its first worker (alive, but cut from RabbitMQ) still
            # runs it. Keep the message in the store before this delivery is acknowledged:
            # if that worker dies before recording the end, health queues it again.
            self.stores.parked.set(self.execution_id, self.message.to_bytes())
            log.warning("execution %s is already running on worker %s; its duplicate delivery is parked",
                        self.execution_id, execution.get("worker_id"))
            return None
        attempts = int(execution.get("attempts") or 0) + 1
        fields = {"worker_id": self.worker_id, "attempts": attempts}
        if execution.get("status") == ExecutionStatus.RUNNING:
            self.notes.append(f"attempt {attempts}: the previous attempt's worker "
                              f"{execution.get('worker_id')} stopped before recording it")
            fields["status_message"] = self.notes[-1]
        elif attempts > 1:
            self.notes.append(f"attempt {attempts}: requeued after its worker was shut down")
        return self.stores.executions.update(self.execution_id, fields)

    def _still_running_elsewhere(self, execution: dict) -> bool:
        """Another worker, alive, is running this execution right now."""
        worker = self.stores.workers.find(execution.get("worker_id") or "")
        if worker is None or worker["id"] == self.worker_id or worker.get("status") != WorkerStatus.BUSY \
                or worker.get("execution_id") != self.execution_id:
            return False
        if worker.get("host_id") == self.config.spawner.host_id:
            return pid_alive(worker.get("pid"))
        try:
            beat = times.parse(worker["last_health_check_time"]).timestamp()
        except (KeyError, ValueError):
            return False
        return time.time() - beat < 3 * self.config.workers.heartbeat_interval

    def run(self, staged: "Staged | None" = None) -> dict | None:
        """Run the execution to its terminal record; returns that record.

        ``staged`` is what ``stage`` prepared ahead (actors/prepared.py): its container is
        started only once the claim succeeds, else it is removed.
        """
        execution = self.claim()
        if execution is None:
            log.info("execution %s is gone or finished; skipping", self.execution_id)
            if staged is not None:
                self.unstage(staged)
            return None
        if self.warm is not None and self.actor.get("warm"):
            if staged is not None:            # never prepared ahead (actors/prepared.py); just in case
                self.unstage(staged)
                staged = None
            # A warm execution's output reaches its live log when it ends (the runner hands it over then).
            self.live = livelog.open_publisher(self.config, self.execution_id, log_expiry(self.config, self.actor))
            try:
                handled, record = self.warm.execute(self, execution)
            finally:
                if self.live is not None:
                    self.live.close()
                self.live = None
            if handled:
                return record
        if staged is not None and staged.attempt != execution.get("attempts"):
            self.unstage(staged)          # prepared for another attempt than the claim made
            staged = None
        staged = staged or self.stage(execution)
        try:
            self.live = livelog.open_publisher(self.config, self.execution_id, log_expiry(self.config, self.actor))
            if staged.container is None:
                return self._finish(ExecutionStatus.ERROR, "; ".join(self.notes), {})
            try:
                self.runtime.start_created(staged.container)
            except (docker.errors.DockerException, OSError) as exc:
                self.notes.append(f"the container could not be started: {exc}")
                return self._finish(ExecutionStatus.ERROR, "; ".join(self.notes), {})
            return self._follow(execution, staged.container, staged.limits, staged.budget,
                                sorted(set(staged.unsupported)), staged.collector, staged.io)
        finally:
            if self.live is not None:
                self.live.close()
            self.unstage(staged, remove_container=False)

    def stage(self, execution: dict) -> "Staged":
        """Everything before ``docker start``: scratch folder, results socket, FIFO, cgroups, container.

        Writes nothing to the execution record, so it may run before the claim (and be undone
        by ``unstage`` if the message is taken back). A container that could not be created
        leaves ``container`` None and the reason in ``notes``.
        """
        self.installations.begin("execution", self.execution_id,
                                 {"scratch": str(self.scratch), "cgroup": self.cgroup})
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.scratch.mkdir(parents=True, mode=0o755)
        collector = ResultsCollector(self.scratch / "results.sock", self.stores, self.execution_id,
                                     self.config.workers.max_results_bytes, self.config.store.results_ttl)
        collector.start()
        staged = Staged(collector=collector, attempt=execution.get("attempts"))
        if self.message.content_type == BINARY:
            staged.fifo = FifoWriter(self.scratch / "binary", self.message.body)   # filled before the container starts
        try:
            self.live = livelog.open_publisher(self.config, self.execution_id, log_expiry(self.config, self.actor))
            self.relay = self.start_relay()
            staged.limits, staged.budget = limits_mod.for_execution(self.config, self.actor)
            staged.unsupported = self.tree.create(cgroups.actor_path(self.config.general.instance, self.actor["id"]),
                                                  limits_mod.for_actor(self.config))
            staged.unsupported += self.tree.create(self.cgroup, staged.limits)
            staged.io = self.taskio.follow(self.execution_id, self.cgroup) if self.taskio is not None else None
            try:
                staged.container = self.runtime.create(
                    self.spec(execution), on_created=staged.io.set_container if staged.io else None)
            except (docker.errors.DockerException, OSError) as exc:
                self.notes.append(f"the container could not be started: {exc}")
        except BaseException:
            self.unstage(staged)
            raise
        return staged

    def unstage(self, staged: "Staged", remove_container: bool = True) -> None:
        """Undo ``stage``: the relay, results socket, FIFO, scratch folder and cgroup go (and the container)."""
        if remove_container and staged.container is not None:
            self.runtime.remove(staged.container.id)
        if staged.io is not None:
            staged.io.result(0, 0)            # let it go, whatever happened
        if self.relay is not None:
            self.relay.close()
        staged.collector.finish()
        if staged.fifo:
            staged.fifo.close()
        shutil.rmtree(self.scratch, ignore_errors=True)
        cgroups.remove(self.cgroup)
        self.installations.remove("execution", self.execution_id)

    def _follow(self, execution: dict, container, limits: limits_mod.Limits, budget: limits_mod.Budget,
                unsupported: list[str], collector: ResultsCollector, io: Follow | None) -> dict | None:
        """The started container, followed to its terminal record."""
        # Follow the output first: Docker's capped log file may start again under a flood,
        # and what was written before the reader came is then gone.
        reader = self.runtime.follow_logs(container, self.config.workers.max_log_length,
                                          self.live.write if self.live is not None else None)
        self.container_id = container.id
        self.installations.done("execution", self.execution_id)
        self.stores.executions.update(self.execution_id, {
            "status": ExecutionStatus.RUNNING, "start_time": times.now(), "container_id": container.id,
            "limits": limits.applied(), "limits_unsupported": unsupported})
        self.notify("EXECUTION_STARTED", {"actor_id": self.actor["id"], "execution_id": self.execution_id,
                                          "worker_id": self.worker_id, "link_depth": self.message.link_depth})
        began = time.monotonic()
        watch = _Watch(started=began)
        try:
            self._wait(container, budget, watch, io)
            ended = time.monotonic()
            waited = ended - began
            container.reload()
            logs, truncated = self.runtime.logs(container, self.config.workers.max_log_length, reader)
        except docker.errors.NotFound:
            self.notes.append("the container disappeared while running")
            return self._finish(ExecutionStatus.ERROR, "; ".join(self.notes), {})
        state = dict(container.attrs.get("State", {}))
        usage = self.tree.sample(self.cgroup)
        started, finished = times.docker_time(state.get("StartedAt")), times.docker_time(state.get("FinishedAt"))
        # Docker's own timestamps are the most exact; for a process that exits before Docker
        # records StartedAt they can be reversed, and then the worker's own wait time serves.
        runtime = round(finished - started, 6) if started and finished and finished > started \
            else round(waited, 6)
        self.stores.logs.set(self.execution_id, logs.encode(), ttl=log_expiry(self.config, self.actor))
        if self.live is not None:
            self.live.finish(logs)
        collector.finish()
        if usage.oom_kills or state.get("OOMKilled"):
            state["OOMKilled"] = True
        status = self.outcome(bool(state.get("OOMKilled")), limits.memory_max, watch.limit_reason,
                              truncated, collector.dropped)
        if self.requeue:
            self.runtime.remove(container.id)
            self.stores.executions.update(self.execution_id, {
                "status": ExecutionStatus.SUBMITTED, "status_message": "requeued: its worker was shut down"})
            return None
        figures = {
            "exit_code": state.get("ExitCode"),
            "final_state": state,
            "runtime": runtime,
            "cpu": usage.cpu_ns,
            "cpu_user": usage.cpu_user_ns,
            "cpu_system": usage.cpu_system_ns,
            **self._io_figures(usage, watch, io),
            "memory_peak": max(usage.memory_peak, watch.memory_peak),
            "mem_gbs": watch.memory_gb_seconds(ended, max(usage.memory_peak, watch.memory_peak)),
            "pids_peak": max(usage.pids_current, watch.pids_peak),
            "has_results": collector.count > 0,
            "logs_truncated": truncated,
            "samples": watch.series.record(),
        }
        record = self._finish(status, "; ".join(self.notes), figures)
        self.runtime.remove(container.id)
        return record

    def _io_figures(self, usage: cgroups.Usage, watch: _Watch, io: Follow | None) -> dict:
        """Storage bytes read and written, and whether the figure is exact.

        cgroup v2 accounts io per cgroup (io.stat). On v1 the kernel's exit records of
        every task (actors/runtime/taskio.py) give it exactly; where they cannot, the
        larger of the blkio figures and the sampled /proc io stands, marked inexact.
        """
        if self.tree.version == 2:
            return {"io": usage.io_bytes, "io_exact": True}
        if io is not None:
            figures = io.result()
            if figures.exact:
                return {"io": figures.read_bytes + figures.write_bytes, "io_exact": True}
            log.warning("execution %s: io is not exact (%s)", self.execution_id, figures.reason)
            return {"io": max(usage.io_bytes, watch.io_bytes, figures.read_bytes + figures.write_bytes),
                    "io_exact": False}
        return {"io": max(usage.io_bytes, watch.io_bytes), "io_exact": False}

    def _wait(self, container, budget: limits_mod.Budget, watch: "_Watch", io: Follow | None = None) -> None:
        """Wait for the container, sampling its cgroup and enforcing the budget."""
        interval = max(0.05, self.config.limits.sample_interval)
        started = time.monotonic()
        while True:
            try:
                container.wait(timeout=interval)
                return
            except requests.exceptions.RequestException as exc:
                if "timed out" not in str(exc).lower() and "timeout" not in type(exc).__name__.lower():
                    raise
            usage = self.tree.sample(self.cgroup)
            pids = cgroups.pids(self.cgroup)
            if io is not None:
                io.seed(pids)
            watch.add(usage, cgroups.process_io_bytes(pids), time.monotonic())
            if watch.limit_reason:
                continue
            watch.limit_reason = budget.overrun(usage.cpu_ns, time.monotonic() - started)
            if watch.limit_reason:
                log.info("execution %s %s", self.execution_id, watch.limit_reason)
                self.runtime.kill(container.id)

    def outcome(self, oom: bool, memory_max, limit_reason: str, logs_truncated: bool, results_dropped: int) -> str:
        """The terminal status of an execution that ran (cold or warm), with the reasons added
        to its notes: ERROR when the kernel or the worker's budget killed it, else COMPLETE."""
        status = ExecutionStatus.COMPLETE
        if oom:
            status = ExecutionStatus.ERROR
            self.notes.append(f"OOMKilled: the kernel killed it for passing its memory limit of {memory_max} bytes")
        if limit_reason:
            status = ExecutionStatus.ERROR
            self.notes.append(limit_reason)
        elif self.kill_reason:
            self.notes.append(self.kill_reason)
        if logs_truncated:
            self.notes.append(f"logs truncated at {self.config.workers.max_log_length} bytes")
        if results_dropped:
            self.notes.append(f"{results_dropped} result(s) dropped past "
                              f"{self.config.workers.max_results_bytes} bytes")
        return status

    def _finish(self, status: str, message: str, figures: dict) -> dict | None:
        fields = {"status": status, "status_message": message, "finish_time": times.now(), **figures}
        record = self.stores.executions.update(self.execution_id, fields)
        self.stores.parked.delete(self.execution_id)   # a parked duplicate is not needed any more
        self.stores.execution_done(self.execution_id)
        if self.live is not None:
            self.live.end(status, figures.get("exit_code"))
        if record is not None:
            self.publish_accounting(record)
        return record

    def accounting_record(self, execution: dict) -> dict:
        """The execution as the accounting process records it."""
        return {
            "execution_id": execution["id"], "actor_id": execution["actor_id"],
            "worker_id": execution.get("worker_id") or self.worker_id,
            "owner": execution.get("owner") or self.actor.get("owner"),
            "executor": execution.get("executor") or "", "tenant": execution.get("tenant", "default"),
            "host": self.config.spawner.host_id, "image": self.actor.get("image", ""),
            "submit_time": execution.get("message_received_time"), "start_time": execution.get("start_time"),
            "end_time": execution.get("finish_time"), "runtime": execution.get("runtime") or 0,
            "exit_code": execution.get("exit_code"), "cpu_ns": execution.get("cpu") or 0,
            "cpu_user_ns": execution.get("cpu_user") or 0, "cpu_system_ns": execution.get("cpu_system") or 0,
            "mem_gbs": execution.get("mem_gbs") or 0,
            "memory_peak": execution.get("memory_peak") or 0, "io_bytes": execution.get("io") or 0,
            "io_exact": bool(execution.get("io_exact")),
            "status": execution.get("status"), "reason": execution.get("status_message") or "",
            "attempts": execution.get("attempts") or 0,
        }

    def publish_accounting(self, execution: dict) -> None:
        """Send the record; on failure the message stays unacknowledged and this runs again."""
        if self.account is None:
            return
        self.account(self.accounting_record(execution))
        self.stores.executions.update(self.execution_id, {"accounted": True})
