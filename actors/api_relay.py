"""HTTPS to the API on an execution's own loopback, for agavepy's update_state in unchanged images.

agavepy builds its client from ``_abaco_api_server`` and always speaks HTTPS to that host,
but containers have no network. For an execution that needs the API (stateful or token
actors, those that get the API's unix socket) the worker starts a tiny sandbox container
on network ``none``: a network namespace with only a loopback, labelled like the
execution (so the health process removes it with the execution's worker), outside the
execution's cgroup. The worker, as root, enters that namespace from one thread just long
enough to listen on 127.0.0.1:443 there, and relays each TLS connection it accepts
(server certificate for 127.0.0.1/localhost signed by the platform's CA,
``scripts/make_certs.sh``) to the API's unix socket, where only the execution's own token
is accepted. The execution's container joins the namespace (``network_mode =
container:<sandbox>``), gets the CA at ``/_abaco_ca.pem`` (``REQUESTS_CA_BUNDLE``,
``SSL_CERT_FILE``) and ``_abaco_api_server = https://127.0.0.1``. The relay lives in the
worker and the sandbox is removed with the execution.
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import select
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import docker.errors

from actors.config import REPO_ROOT, Config
from actors.runtime.docker import DockerRuntime

log = logging.getLogger(__name__)

CA_PATH = "/_abaco_ca.pem"            # where the platform's CA is mounted in the container
API_SERVER = "https://127.0.0.1"      # _abaco_api_server of an execution with a relay
LISTEN = ("127.0.0.1", 443)
SANDBOX_COMMAND = ["sleep", "2147483647"]   # holds the namespace; the worker removes it
LABEL_ROLE = "abaco.role"
IDLE_SECONDS = 60.0                    # a connection silent that long is closed
CLONE_NEWNET = 0x40000000


class RelayError(Exception):
    """The relay could not be set up (the execution runs without it)."""


def certificates(config: Config) -> tuple[Path, Path, Path]:
    """The CA, server certificate and key (made with scripts/make_certs.sh if missing)."""
    directory = config.tls_cert_dir
    ca, cert, key = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    if ca.exists() and cert.exists() and key.exists():
        return ca, cert, key
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".make_certs.lock", "a") as lock:    # one maker at a time, across workers
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (ca.exists() and cert.exists() and key.exists()):
            done = subprocess.run([str(REPO_ROOT / "scripts" / "make_certs.sh"), "--server-only", str(directory)],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise RelayError(f"cannot make the relay's certificates: {done.stderr.strip()}")
    return ca, cert, key


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def listen_in(netns: str, address: tuple[str, int]) -> socket.socket:
    """A listening TCP socket made inside the network namespace ``netns`` (a /proc path).

    Only a short-lived thread of its own enters the namespace; the socket stays there.
    """
    found: dict = {}

    def work() -> None:
        fds: list[int] = []
        try:
            fds.append(os.open("/proc/thread-self/ns/net", os.O_RDONLY))
            fds.append(os.open(netns, os.O_RDONLY))
            _setns(fds[1])
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(address)
                sock.listen(16)
                found["sock"] = sock
            finally:
                _setns(fds[0])
        except OSError as exc:
            found["error"] = exc
        finally:
            for fd in fds:
                os.close(fd)

    thread = threading.Thread(target=work, name="relay-netns")
    thread.start()
    thread.join()
    if "sock" not in found:
        raise RelayError(f"cannot listen in the sandbox's network namespace: {found.get('error')}")
    return found["sock"]


def pump(tls: ssl.SSLSocket, upstream: socket.socket) -> None:
    """Copy bytes both ways until one side closes or both are silent for IDLE_SECONDS."""
    while True:
        ready = [tls] if tls.pending() else select.select([tls, upstream], [], [], IDLE_SECONDS)[0]
        if not ready:
            return
        for sock in ready:
            try:
                data = sock.recv(65536)
            except ssl.SSLWantReadError:
                continue
            if not data:
                return
            (upstream if sock is tls else tls).sendall(data)


class Relay:
    """The sandbox namespace and the TLS relay of one execution."""

    def __init__(self, config: Config, runtime: DockerRuntime, labels: dict[str, str]):
        self.config, self.runtime, self.labels = config, runtime, labels
        self.container_id: str | None = None
        self.ca = config.tls_cert_dir / "ca.pem"
        self.listener: socket.socket | None = None
        self._stop = threading.Event()

    @property
    def network_mode(self) -> str:
        return f"container:{self.container_id}"

    def start(self) -> None:
        """Start the sandbox and listen in it; RelayError (with everything undone) on failure."""
        try:
            self.ca, cert, key = certificates(self.config)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(cert), str(key))
            container = self.runtime.docker.containers.create(
                self.config.workers.relay_image, SANDBOX_COMMAND, detach=True, network_mode="none",
                labels=dict(self.labels, **{LABEL_ROLE: "relay"}), user="65534:65534", cap_drop=["ALL"],
                security_opt=["no-new-privileges"], read_only=True, pids_limit=4, mem_limit="16m")
            self.container_id = container.id
            container.start()
            container.reload()
            pid = container.attrs["State"]["Pid"]
            self.listener = listen_in(f"/proc/{pid}/ns/net", LISTEN)
        except (RelayError, OSError, ssl.SSLError, docker.errors.DockerException, KeyError) as exc:
            self.close()
            raise RelayError(str(exc)) from exc
        self.listener.settimeout(0.5)
        threading.Thread(target=self._accept, args=(context,), daemon=True, name="relay-accept").start()

    def _accept(self, context: ssl.SSLContext) -> None:
        while not self._stop.is_set():
            listener = self.listener
            if listener is None:
                return
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(context, conn), daemon=True, name="relay-conn").start()

    def _serve(self, context: ssl.SSLContext, conn: socket.socket) -> None:
        conn.settimeout(IDLE_SECONDS)
        try:
            with context.wrap_socket(conn, server_side=True) as tls, \
                    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as upstream:
                upstream.settimeout(IDLE_SECONDS)
                upstream.connect(str(self.config.api_socket))
                pump(tls, upstream)
        except (OSError, ssl.SSLError) as exc:
            log.debug("relay connection ended: %s", exc)
        finally:
            conn.close()

    def close(self) -> None:
        """Stop listening and remove the sandbox (safe to call more than once)."""
        self._stop.set()
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        if self.container_id is not None:
            self.runtime.remove(self.container_id)
            self.container_id = None
