"""A second Docker engine on this machine, standing in for another compute host.

It has a directory of its own (``root``): its data root, exec root (where dockerd
starts its own containerd), pid file, unix socket and log, so it shares nothing with
the machine's engine but the kernel and the cgroup tree (the platform's container
cgroups are named for their executions, so the two engines' never collide). It runs
with the platform's network rules (``--bridge=none --iptables=false``: containers get
network none or host). No registry is reachable, so images are copied in from the
main engine (``docker save | docker load``).

:meth:`SecondEngine.kill` is a host dying: SIGKILL to dockerd, its containerd, the
containerd shims and every process of its containers, all at once (they are frozen
with SIGSTOP first, so none forks out of the sweep). :meth:`SecondEngine.remove` stops
what is left, unmounts what the engine mounted under ``root`` and deletes ``root``.
Used by tests/faults/test_hosts_failover.py and bench/hosts.py; it needs root, as
dockerd does.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterable

import docker
import docker.errors

from actors.readiness import wait_until

DOCKERD_FLAGS = ("--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false")


class SecondEngine:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.data_root = self.root / "data"
        self.exec_root = self.root / "exec"
        self.pidfile = self.root / "docker.pid"
        self.socket = self.root / "docker.sock"
        self.log = self.root / "dockerd.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """What DOCKER_HOST names for this engine."""
        return f"unix://{self.socket}"

    def client(self, timeout: int = 60) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.url, timeout=timeout)

    def start(self, timeout: float = 60.0) -> None:
        """Start dockerd and wait (one deadline) until it answers on its socket."""
        for path in (self.data_root, self.exec_root):
            path.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                ["dockerd", *DOCKERD_FLAGS, "--data-root", str(self.data_root), "--exec-root", str(self.exec_root),
                 "--pidfile", str(self.pidfile), "-H", self.url],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        process = self.process

        def answers() -> bool:
            client = self.client(timeout=5)
            try:
                return bool(client.ping())
            finally:
                client.close()
        wait_until(answers, timeout, f"the second Docker engine on {self.socket}", interval=0.3,
                   alive=lambda: process.poll() is None, logs=[self.log],
                   not_yet=(OSError, docker.errors.DockerException))

    def load(self, images: Iterable[str]) -> None:
        """Copy images from the machine's engine into this one."""
        images = list(images)
        save = subprocess.Popen(["docker", "save", *images], stdout=subprocess.PIPE)
        load = subprocess.run(["docker", "load"], stdin=save.stdout, capture_output=True, text=True,
                              env=dict(os.environ, DOCKER_HOST=self.url), timeout=300)
        assert save.stdout is not None
        save.stdout.close()
        if save.wait(timeout=300) != 0 or load.returncode != 0:
            raise RuntimeError(f"copying {images} into the second engine failed: {load.stderr[-2000:]}")

    # ------------------------------------------------------------ dying and cleaning up

    def _processes(self) -> dict[int, tuple[int, str]]:
        """pid -> (parent pid, command line) of every process."""
        out = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            out[int(entry.name)] = (ppid, cmdline)
        return out

    def engine_pids(self) -> set[int]:
        """dockerd, its containerd, the shims, and all their descendants (the containers' processes)."""
        procs = self._processes()
        roots = {pid for pid, (_, cmd) in procs.items() if str(self.root) in cmd}
        if self.process is not None and self.process.poll() is None:
            roots.add(self.process.pid)
        found = set(roots)
        grew = True
        while grew:
            grew = False
            for pid, (ppid, _) in procs.items():
                if ppid in found and pid not in found:
                    found.add(pid)
                    grew = True
        found.discard(os.getpid())
        return found

    def kill(self) -> int:
        """SIGKILL the whole engine and what it runs, as if its host died; the number killed."""
        frozen: set[int] = set()
        for _ in range(10):            # freeze until no new process shows up, then kill them all
            fresh = self.engine_pids() - frozen
            if not fresh:
                break
            for pid in fresh:
                _signal(pid, signal.SIGSTOP)
            frozen |= fresh
        for pid in frozen:
            _signal(pid, signal.SIGKILL)
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        return len(frozen)

    def remove(self) -> None:
        """Stop the engine (if it still runs), unmount what it left mounted, delete its directory."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + 10
        while self.engine_pids() and time.monotonic() < deadline:
            self.kill()
            time.sleep(0.2)
        for mount in sorted(self._mounts(), key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def _mounts(self) -> list[str]:
        prefix = str(self.root) + "/"
        out = []
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefix):
                out.append(point)
        return out


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
