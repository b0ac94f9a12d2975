"""Shared fixtures.

Integration tests run the real platform processes (gunicorn API, spawner, health)
against the real Redis, RabbitMQ and Docker engine that ``scripts/stack.sh up`` starts,
under a fresh ``[general] instance`` and data directory of their own, so they never
touch the stack a user runs with ``make up``. Settings reach the subprocesses through
ABACO_<SECTION>_<KEY> environment variables, as in production.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from actors import auth
from actors import config as config_mod
from actors.process import kill_group, pid_alive
from actors.readiness import NotReady, api_answers, wait_until
from actors.services import PROCESSES

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent          # the virtualenv's console scripts
# A cold start (new virtualenv, no bytecode yet, a busy machine) may take a while.
START_TIMEOUT = 180.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Platform:
    """A running API + spawner + health of one test instance, and helpers to use it."""

    def __init__(self, env: dict, config, url: str):
        self.env, self.config, self.url = env, config, url
        self.procs: dict[str, subprocess.Popen] = {}
        self.tokens: dict[tuple[str, str, str], str] = {}

    # processes
    def start(self, name: str, cmd: list[str], settings: dict | None = None) -> None:
        """Start process ``name``; ``settings`` (ABACO_* variables) change its configuration."""
        log = open(self.config.log_dir / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(cmd, env=dict(self.env, **(settings or {})), stdout=log, stderr=log,
                                            start_new_session=True, cwd=REPO)

    def stop(self, name: str, sig=signal.SIGTERM, timeout: float = 20) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        kill_group(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid)
            proc.wait()

    def start_api(self, name: str, settings: dict) -> str:
        """Another API process on the same stores, with some settings changed; its URL."""
        port = free_port()
        env = dict(self.env, ABACO_WEB_PORT=str(port), ABACO_WEB_GUNICORN_WORKERS="1",
                   ABACO_WEB_GUNICORN_THREADS="4", ABACO_WEB_BIND_UNIX_SOCKET="false", **settings)
        log = open(self.config.log_dir / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen([str(BIN / "abaco-api")], env=env, stdout=log, stderr=log,
                                            start_new_session=True, cwd=REPO)
        url = f"http://127.0.0.1:{port}"
        self.wait_ready(name, lambda: api_answers(url))
        return url

    def start_tls_proxy(self, name: str, api_url: str, cert_dir: Path, mode: str = "jwt",
                        host: str = "127.0.0.1", port: int | None = None) -> str:
        """nginx (the platform's TLS proxy, rendered for access mode ``mode``) in front of
        ``api_url``, with the certificates in ``cert_dir`` (scripts/make_certs.sh), on
        ``host:port`` (a free port by default); its URL."""
        from actors import tls_proxy
        port = port or free_port()
        cfg = self.config.replace(web={"access_control": mode}, auth={"tls_cert_dir": str(cert_dir)})
        conf_dir = self.config.log_dir / name
        conf_dir.mkdir(parents=True, exist_ok=True)
        conf = conf_dir / "nginx.conf"
        conf.write_text(tls_proxy.render(cfg, listen=f"{host}:{port}", upstream=api_url.removeprefix("http://"),
                                         log_dir=conf_dir, run_dir=conf_dir))
        conf.chmod(0o600)
        log = open(conf_dir / "nginx.out", "ab")
        proc = subprocess.Popen(["nginx", "-c", str(conf)], stdout=log, stderr=log, start_new_session=True)
        self.procs[name] = proc

        def listening():
            if proc.poll() is not None:
                raise AssertionError("nginx exited: " + (conf_dir / "nginx-error.log").read_text()[-2000:])
            with socket.socket() as s:
                return s.connect_ex((host, port)) == 0
        self.wait_for(listening, timeout=20, what=f"{name} to listen")
        return f"https://{host}" + ("" if port == 443 else f":{port}")

    def wait_ready(self, name: str, probe, timeout: float = START_TIMEOUT) -> None:
        """Wait for process ``name`` to answer ``probe``; fail with its log if it exits or never does."""
        proc = self.procs[name]
        wait_until(probe, timeout, f"{name} to answer", interval=0.3,
                   alive=lambda: proc.poll() is None, logs=[self.config.log_dir / f"{name}.log"])

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.config.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    # HTTP
    def token(self, user: str = "alice", role: str = "user", tenant: str = "default") -> str:
        key = (user, role, tenant)
        if key not in self.tokens:
            self.tokens[key] = auth.issue_token(self.config, user, role, tenant)
        return self.tokens[key]

    def request(self, method: str, path: str, user: str | None = "alice", role: str = "user",
                tenant: str = "default", **kw):
        headers = kw.pop("headers", {})
        if user:
            headers.setdefault("Authorization", f"Bearer {self.token(user, role, tenant)}")
        return requests.request(method, self.url + path, headers=headers, timeout=kw.pop("timeout", 60), **kw)

    def ok(self, method: str, path: str, **kw):
        resp = self.request(method, path, **kw)
        assert resp.status_code == 200, (resp.status_code, resp.text)
        body = resp.json()
        assert body["status"] == "success"
        return body["result"]

    def wait_for(self, predicate, timeout: float = 60, interval: float = 0.2, what: str = "condition"):
        """Poll ``predicate`` until true; a request that is refused or times out counts as "not yet"."""
        return wait_until(predicate, timeout, what, interval=interval)

    def register(self, image: str = "abaco/echo:local", wait_ready: bool = True, user="alice", role="user",
                 **fields):
        actor = self.ok("POST", "/actors", json={"image": image, **fields}, user=user, role=role)
        if wait_ready:
            def ready():
                current = self.ok("GET", f"/actors/{actor['id']}", user=user)
                if current["status"] == "ERROR":
                    raise AssertionError(f"actor {actor['id']} went to ERROR: {current['status_message']}")
                return current["status"] == "READY"
            self.wait_for(ready, what=f"actor {actor['id']} READY")
        return actor

    def execution(self, actor_id: str, execution_id: str, user="alice", tenant="default"):
        return self.ok("GET", f"/actors/{actor_id}/executions/{execution_id}", user=user, tenant=tenant)

    def wait_execution(self, actor_id: str, execution_id: str, timeout: float = 90, user="alice", tenant="default"):
        return self.wait_for(
            lambda: (lambda e: e if e["status"] in ("COMPLETE", "ERROR") else None)(
                self.execution(actor_id, execution_id, user=user, tenant=tenant)),
            timeout=timeout, what=f"execution {execution_id} to finish")


def _service_env() -> dict:
    """Where the stack's Redis and RabbitMQ are (the defaults, or ABACO_* overrides), and their
    credentials: a test instance has a data directory of its own, without the stack's keys."""
    env = dict(os.environ)
    stack = config_mod.load(environ=env)
    env.update({"ABACO_STORE_REDIS_PASSWORD": stack.store.redis_password,
                "ABACO_RABBIT_USER": stack.rabbit.user, "ABACO_RABBIT_PASSWORD": stack.rabbit.password})
    return env


@pytest.fixture(scope="session")
def platform(tmp_path_factory):
    plat = launch_platform(tmp_path_factory.mktemp("abaco-data"))
    yield plat
    shutdown_platform(plat)


@pytest.fixture(scope="session")
def platform_launcher():
    """(launch_platform, shutdown_platform), for a test that needs a platform with settings of its
    own; a fixture, so that tests under a directory with a conftest.py of its own reach them too."""
    return launch_platform, shutdown_platform


def launch_platform(data: Path, settings: dict | None = None) -> Platform:
    """Every process of PROCESSES for a fresh instance with its data in ``data``; ``settings``
    (ABACO_* variables) change its configuration. Stop it with :func:`shutdown_platform`."""
    port = free_port()
    instance = "t" + secrets.token_hex(4)
    env = _service_env()
    env.update({
        "ABACO_GENERAL_INSTANCE": instance,
        "ABACO_GENERAL_DATA_DIR": str(data),
        "ABACO_WEB_PORT": str(port),
        "ABACO_WEB_API_SERVER": f"http://127.0.0.1:{port}",
        "ABACO_WEB_SYNC_TIMEOUT": "60",
        "ABACO_LOGSTREAM_PORT": str(free_port()),
        # The integration tests check plain HTTP codes (403, 404, 409, 413); Abaco's codes, the
        # default, are checked on an API of their own (test_compat_codes.py, the matrix).
        "ABACO_WEB_COMPAT": "http",
        "ABACO_HEALTH_INTERVAL": "2",
        "ABACO_AUTOSCALER_LISTEN": f"127.0.0.1:{free_port()}",   # its /metrics and /alerts
        "ABACO_SPAWNER_CLIENT_TIMEOUT": "3",
        "ABACO_SPAWNER_CLIENT_ATTEMPTS": "2",
        "ABACO_WORKERS_MAX_LOG_LENGTH": "100000",
        "ABACO_CONF": str(REPO / "abaco.conf"),
        # Only the users named here are affected (tests/integration/test_confinement.py).
        "ABACO_WORKERS_UID_MAP": "uiduser:4321:4321,uidadmin:4400",
        "ABACO_WORKERS_MOUNTS": f"{data}/homes/{{username}}:/home/abaco:rw",
        **(settings or {}),
    })
    config = config_mod.load(environ=env)
    for directory in (config.log_dir, config.run_dir, config.worker_pid_dir):
        directory.mkdir(parents=True, exist_ok=True)
    auth.ensure_signing_key(config)
    plat = Platform(env, config, f"http://127.0.0.1:{port}")
    for process in PROCESSES:
        plat.start(process.name, [str(BIN / process.command)])
    plat.wait_ready("api", lambda: api_answers(plat.url))
    return plat


def shutdown_platform(plat: Platform) -> None:
    for name in list(plat.procs):
        plat.stop(name)
    _stop_workers(plat.config)
    _cleanup_instance(plat.config)


def _stop_workers(config) -> None:
    """SIGTERM every worker of the test instance, SIGKILL those still there after 20 s."""
    pids = []
    for pidfile in config.worker_pid_dir.glob("*.pid"):
        try:
            pids.append(int(pidfile.read_text()))
        except (OSError, ValueError):
            continue
    for pid in pids:
        kill_group(pid, signal.SIGTERM)
    try:
        wait_until(lambda: not any(pid_alive(pid) for pid in pids), 20, "the workers to exit")
    except NotReady:
        for pid in pids:
            kill_group(pid)


def _cleanup_instance(config) -> None:
    """Remove the test instance's containers, queues, keys and cgroups."""
    import docker

    from actors.runtime import cgroups
    from actors.store.redis import RedisBackend
    client = docker.from_env()
    for c in client.containers.list(all=True, filters={"label": f"abaco.instance={config.general.instance}"}):
        c.remove(force=True)
    RedisBackend(config).flush_instance()
    cgroups.remove(f"/{config.general.instance}")
