"""Configuration: abaco.conf plus environment overrides, read once into a typed Config.

Every process calls :func:`load` once at start and passes the result down; no other
module reads the config file or ``os.environ`` for settings.

Lookup order for the file: the ``path`` argument, ``$ABACO_CONF``, ``./abaco.conf``,
then the repository's own ``abaco.conf``. Any key may be overridden by an environment
variable named ``ABACO_<SECTION>_<KEY>`` (upper case), e.g. ``ABACO_WEB_PORT=8080``.

``python -m actors.config general.data_dir`` prints one resolved value (used by the
shell scripts that start the stack).
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from actors import credentials, host_labels

REPO_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A setting is missing or has a value of the wrong kind."""


@dataclass(frozen=True)
class General:
    instance: str = "abaco"          # prefix for store keys, queue names, labels, cgroup tree
    data_dir: Path = REPO_ROOT / ".data"
    log_level: str = "INFO"


@dataclass(frozen=True)
class Web:
    host: str = "127.0.0.1"
    port: int = 8000
    case: str = "snake"              # "snake" or "camel" field names in responses
    compat: str = "abaco"            # "abaco": Abaco's status codes; "http": 401/403/404/409/413
    strict_fields: bool = False      # true: unknown fields in a body are a 400 (else ignored and named)
    access_control: str = "jwt"
    max_message_bytes: int = 1048576
    max_body_bytes: int = 2097152
    max_json_depth: int = 64         # arrays/objects nested deeper in a body, message or state: 400
    sync_timeout: int = 300          # seconds a ?_abaco_synchronous=true request may wait
    max_sync_waits_per_user: int = 2  # synchronous waits one user may hold in one API process (429 beyond)
    max_sync_waits: int = 0          # all synchronous waits of one API process; 0: half its threads
    max_batch_messages: int = 1000   # messages in one POST .../messages/batch, ids in one .../executions/wait
    cors_origins: tuple[str, ...] = ()   # origins whose pages may read answers (CORS); none by default
    api_server: str = "http://127.0.0.1:8000"
    token_ttl: int = 86400           # seconds a token minted by `abaco token` is valid
    gunicorn_workers: int = 2
    gunicorn_threads: int = 8
    metrics_open_loopback: bool = False  # /metrics without a token from loopback (a local Prometheus)
    access_log: bool = True          # one line per request in the API's log (nonces masked)
    bind_unix_socket: bool = True    # also serve on <data_dir>/run/api.sock (containers reach it there)
    encryption_key: str = ""         # Fernet key for secret configs; empty: made in the keys directory


@dataclass(frozen=True)
class Store:
    backend: str = "redis"
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    redis_db: int = 0
    # '' : the password in <data_dir>/keys/redis.password, if any (see resolve_credentials)
    redis_password: str = field(default="", repr=False)
    logs_ttl: int = 30 * 86400       # seconds execution logs are kept (an actor's log_ex overrides); 0 keeps them
    results_ttl: int = 7 * 86400     # seconds execution results are kept after the latest; 0 keeps them
    max_log_ex: int = 0              # the most an actor's log_ex may ask for; 0: no cap


@dataclass(frozen=True)
class Rabbit:
    host: str = "127.0.0.1"
    port: int = 5672
    # '' and '': the user and password in <data_dir>/keys/rabbit.credentials (see resolve_credentials)
    user: str = ""
    password: str = field(default="", repr=False)
    vhost: str = "/"
    heartbeat: int = 60
    publish_lanes: int = 8           # connections a process publishes on at once (each waits for its confirm)


@dataclass(frozen=True)
class Spawner:
    queues: tuple[str, ...] = ("default",)
    worker_ready_timeout: int = 60   # seconds a new worker has to report READY
    client_timeout: float = 10.0     # seconds to wait for clientg's OAuth client, per attempt
    client_attempts: int = 3
    # Many compute hosts (actors/hosts.py): each spawner registers its host in the hosts registry.
    host_id: str = "local"           # names this compute host; spawners on other hosts differ
    host_labels: tuple[str, ...] = ()   # what this host offers (gpu, bigmem, ...); actors' host_labels match them
    max_workers_per_host: int = 0    # workers this host runs at once; past it the spawner takes no start; 0: no cap
    heartbeat_interval: float = 5.0  # seconds between two heartbeats of the host record


@dataclass(frozen=True)
class Workers:
    default_max_workers: int = 2
    max_workers_limit: int = 10      # the most a non-privileged user may ask for
    max_log_length: int = 1000000
    container_network: str = "none"  # "none" or "host"
    heartbeat_interval: float = 5.0
    worker_ttl: int = 0              # seconds an idle worker lives; 0 forever
    stop_grace: int = 5              # seconds a force-quit container gets after SIGTERM
    max_results_bytes: int = 1048576
    mount_api_socket: bool = True    # give containers the API's unix socket for update_state
    api_relay: bool = True           # and HTTPS on their own 127.0.0.1:443 (agavepy; actors/api_relay.py)
    relay_image: str = "abaco/busybox:local"   # the sandbox that holds that network namespace
    # Confinement of every non-privileged container (see actors/sandbox.py).
    cap_drop: tuple[str, ...] = ("ALL",)
    cap_add: tuple[str, ...] = ()    # given back after cap_drop; only names in CAP_ADD_ALLOWED
    uid_map: tuple[str, ...] = ()    # user:uid[:gid] entries
    default_uid: str = "65534:65534"  # uid[:gid] for users not in uid_map (nobody); empty: the image's user
    mounts: tuple[str, ...] = ()     # /host/path:/container/path[:ro|rw]; {username} = the owner
    runtime: str = "crun"            # OCI runtime of execution containers; empty or absent: the engine's default
    pipeline: bool = True            # create the next message's container while one runs (actors/prepared.py)
    # Warm actors (actors/warm.py): a warm container is replaced after this many executions
    # or this many idle seconds; warm_start_timeout bounds the wait for its runner to connect.
    warm_max_executions: int = 100
    warm_idle_seconds: float = 300.0
    warm_start_timeout: float = 30.0


@dataclass(frozen=True)
class Limits:
    """Per-execution limits and the actor-wide quota, applied through the cgroup tree.

    Defaults for every actor; privileged users may raise them per actor. Zero or empty
    means no limit; by default no ordinary actor runs without a memory, CPU and pids cap.
    """
    memory_max: str = "2g"           # memory.max / memory.limit_in_bytes of one execution
    memory_high: str = ""            # v2 only: throttle above this
    memory_low: str = ""             # v2 only: protected below this
    memory_min: str = ""             # v2 only: hard protection
    cpu_quota: float = 1.0           # CPUs an execution may use (0.5 = half a CPU)
    cpu_period_us: int = 100000
    cpu_weight: int = 0              # 1..10000 (v1 shares are derived from it)
    pids_max: int = 1024
    io_weight: int = 0               # 1..10000 (v1 blkio.weight 10..1000 derived)
    io_read_bps: int = 0
    io_write_bps: int = 0
    io_read_iops: int = 0
    io_write_iops: int = 0
    cpu_seconds: float = 0.0         # CPU-seconds budget of one execution; past it, killed
    max_run_time: int = 0            # seconds one execution may run; past it, killed
    actor_memory_max: str = ""       # quota across all running executions of one actor
    actor_cpu_quota: float = 0.0
    actor_pids_max: int = 0
    sample_interval: float = 1.0     # seconds between two cgroup samples of a running execution
    # The small quotas of users with the limited role (tighter than the above, never looser).
    limited_memory_max: str = "512m"
    limited_cpu_quota: float = 0.5
    limited_pids_max: int = 256
    limited_max_run_time: int = 3600


@dataclass(frozen=True)
class Quotas:
    """What one user (or one actor's mailbox) may hold at once; 0 means no cap. Admins are exempt
    from the per-user quotas (actors/quotas.py)."""
    max_actors_per_user: int = 100   # actors a user owns, in a tenant
    max_workers_per_user: int = 100  # live workers of all of a user's actors (each actor starts with one)
    max_queued_messages: int = 10000  # messages waiting in one actor's mailbox; sending more: 429


@dataclass(frozen=True)
class Accounting:
    file: str = ""                   # SGE accounting(5) lines; default <data_dir>/accounting/accounting
    csv_file: str = ""               # the same records as CSV; default <data_dir>/accounting/accounting.csv


@dataclass(frozen=True)
class Auth:
    """Settings of the access-control modes ([web] access_control chooses one; see actors/auth.py)."""
    # jwt_header: a JWT from an API gateway in the header <prefix><TENANT>
    jwt_header_prefix: str = "X-Jwt-Assertion-"
    jwt_header_public_key: str = ""  # PEM file of the gateway's signing key (all tenants)
    jwt_header_public_keys: tuple[str, ...] = ()   # tenant=PEM file: a key per tenant (binds the tenant)
    jwt_header_tenant_claim: str = "tenant"  # with the one key: the claim that must name the header's tenant
    jwt_header_strip_domains: tuple[str, ...] = ("carbon.super",)  # user@<these> is user; other domains stay
    jwt_header_algorithms: tuple[str, ...] = ("RS256",)
    jwt_header_user_claim: str = "http://wso2.org/claims/enduser"
    jwt_header_roles_claim: str = "http://wso2.org/claims/role"
    admin_roles: tuple[str, ...] = ("Internal/abaco-admin",)
    privileged_roles: tuple[str, ...] = ("Internal/abaco-privileged",)
    limited_roles: tuple[str, ...] = ("Internal/abaco-limited",)
    tenants: tuple[str, ...] = ("default",)   # tenants a gateway may name
    # mtls: nginx verifies the client certificate and passes its subject's CN
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    mtls_verify_header: str = "X-Ssl-Client-Verify"
    mtls_dn_header: str = "X-Ssl-Client-S-Dn"  # RFC 2253 subject DN
    mtls_admins: tuple[str, ...] = ()
    mtls_privileged: tuple[str, ...] = ()
    tls_listen: str = "127.0.0.1:8443"      # where nginx takes TLS connections
    tls_cert_dir: str = ""                  # ca.pem, server.pem, server.key; default <data_dir>/tls
    # none: local development only
    dev_user: str = "dev"
    dev_role: str = "admin"
    # OAuth2 (client credentials and refresh tokens)
    access_token_ttl: int = 3600
    refresh_token_ttl: int = 30 * 86400


@dataclass(frozen=True)
class Events:
    """Delivery of actor events to linked actors and webhooks (actors/services/events.py)."""
    webhook_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")  # hosts webhooks may name; * any
    webhook_timeout: float = 5.0     # seconds one POST may take
    webhook_attempts: int = 3        # tries per event, 1 s, 2 s, 4 s ... apart
    # The most links a chain of linked actors carries one message across: an event that would
    # cross one more is not sent to the link (logged, and noted on the execution). 0: no link
    # sends anything.
    link_max_depth: int = 10


@dataclass(frozen=True)
class Health:
    interval: float = 10.0
    worker_dead_after: float = 60.0  # seconds without a heartbeat before a worker is dead
    cron_max_past_days: int = 366    # a new cron schedule may start at most this many days ago
    stuck_after: float = 120.0       # seconds a worker may stay REQUESTED, SPAWNER SETUP, or BUSY
                                     # with no execution running, before it is reaped
    host_silent_after: float = 30.0  # seconds without a host heartbeat before the host is silent and
                                     # its workers (silent as long) are lost


@dataclass(frozen=True)
class Autoscaler:
    """The autoscaler process (actors/services/autoscaler.py; the rule is actors/autoscale.py)."""
    enabled: bool = True             # false: the process stands by and changes nothing
    interval: float = 5.0            # seconds between two ticks
    stable_window: float = 60.0      # seconds the desired count averages demand over
    panic_window: float = 6.0        # seconds of the short average that may trigger panic
    panic_factor: float = 2.0        # panic when the short average reaches this times the ready workers
    scale_down_delay: float = 30.0   # seconds demand must stay low before workers are stopped
    zero_grace: float = 120.0        # seconds without demand before the last worker is stopped
    source: str = "prometheus"       # "prometheus" (falls back to direct) or "direct" (queues + stores)
    prometheus_url: str = ""         # where the autoscaler queries Prometheus; '' : http://<prometheus_listen>
    prometheus_listen: str = "127.0.0.1:9090"      # where `make up` starts Prometheus
    alertmanager_listen: str = "127.0.0.1:9093"    # where `make up` starts AlertManager
    scrape_interval: float = 5.0     # seconds between two scrapes (rendered into prometheus.yml)
    listen: str = "127.0.0.1:9095"   # the autoscaler's own /metrics and /alerts (loopback only)
    lease_ttl: float = 15.0          # seconds the active autoscaler's lease lasts without renewal
    command_queue_limit: int = 20    # start commands waiting at or above this: hold scale-ups
    host_capacity: int = 0           # live workers all compute hosts can hold; 0: no cap
    decisions_kept: int = 50         # decisions GET /actors/{id}/autoscaling shows


@dataclass(frozen=True)
class Logstream:
    """Live logs (actors/livelog.py) and the process that streams them (actors/services/logstream.py)."""
    host: str = "127.0.0.1"
    port: int = 8600
    public_url: str = ""             # where the API redirects followers; '' : http://<the API's host name>:port
    max_followers_per_user: int = 20  # streams one user may hold open at once in one process (429 beyond)
    heartbeat: float = 15.0          # seconds between keep-alive comments on an idle stream
    ticket_ttl: int = 60             # seconds a redirect's ticket may be used to start a stream
    flush_interval: float = 0.1      # the most seconds output waits in the worker (at most one entry per interval)
    max_chunks: int = 100000         # entries one execution's live log keeps (older ones trimmed)
    keep_after_end: int = 3600       # seconds a live log stays once its execution ended (the stored log stays)


@dataclass(frozen=True)
class Dashboard:
    """The Django dashboard (dashboard/, served by actors/services/dashboard.py)."""
    host: str = "127.0.0.1"
    port: int = 8080
    api_url: str = ""                # the API it calls; '' : http://[web] host:port
    secret_key: str = field(default="", repr=False)   # '' : made once in <data_dir>/keys/dashboard.secret
    secure_cookies: bool = True      # Secure session and CSRF cookies (browsers keep them on HTTPS and loopback)
    api_timeout: float = 10.0        # seconds one API call may take before the page shows an outage
    threads: int = 8                 # gunicorn threads of the dashboard (a followed log holds one)


@dataclass(frozen=True)
class Config:
    general: General = field(default_factory=General)
    web: Web = field(default_factory=Web)
    store: Store = field(default_factory=Store)
    rabbit: Rabbit = field(default_factory=Rabbit)
    spawner: Spawner = field(default_factory=Spawner)
    workers: Workers = field(default_factory=Workers)
    health: Health = field(default_factory=Health)
    limits: Limits = field(default_factory=Limits)
    quotas: Quotas = field(default_factory=Quotas)
    accounting: Accounting = field(default_factory=Accounting)
    auth: Auth = field(default_factory=Auth)
    events: Events = field(default_factory=Events)
    autoscaler: Autoscaler = field(default_factory=Autoscaler)
    logstream: Logstream = field(default_factory=Logstream)
    dashboard: Dashboard = field(default_factory=Dashboard)
    source: str = ""                 # the file the settings came from, for messages

    @property
    def data_dir(self) -> Path:
        return self.general.data_dir

    @property
    def keys_dir(self) -> Path:
        return self.general.data_dir / "keys"

    @property
    def run_dir(self) -> Path:
        """Sockets, FIFOs and per-execution scratch; must be on the Docker host."""
        return self.general.data_dir / "run"

    @property
    def api_socket(self) -> Path:
        return self.run_dir / "api.sock"

    @property
    def pid_dir(self) -> Path:
        """Pid files of the processes `make up` started (scripts/stack.sh writes them)."""
        return self.general.data_dir / "pids"

    @property
    def worker_pid_dir(self) -> Path:
        """One pid file per worker process, written by the spawner, removed by the worker."""
        return self.pid_dir / "workers"

    def worker_pidfile(self, worker_id: str) -> Path:
        return self.worker_pid_dir / f"{worker_id}.pid"

    @property
    def log_dir(self) -> Path:
        return self.general.data_dir / "logs"

    @property
    def accounting_file(self) -> Path:
        return Path(self.accounting.file) if self.accounting.file else \
            self.general.data_dir / "accounting" / "accounting"

    @property
    def tls_cert_dir(self) -> Path:
        return Path(self.auth.tls_cert_dir) if self.auth.tls_cert_dir else self.general.data_dir / "tls"

    @property
    def accounting_csv(self) -> Path:
        return Path(self.accounting.csv_file) if self.accounting.csv_file else \
            self.general.data_dir / "accounting" / "accounting.csv"

    @property
    def prometheus_url(self) -> str:
        return self.autoscaler.prometheus_url or f"http://{self.autoscaler.prometheus_listen}"

    def replace(self, **sections: Mapping[str, Any]) -> "Config":
        """A copy with some settings changed, e.g. ``cfg.replace(general={"instance": "t1"})``."""
        changes = {}
        for name, values in sections.items():
            current = getattr(self, name)
            changes[name] = dataclasses.replace(
                current, **{k: _convert(current, k, v, name) for k, v in values.items()})
        return dataclasses.replace(self, **changes)


_SECTIONS = {f.name: f.type for f in dataclasses.fields(Config) if f.name != "source"}


# Settings that existed once: naming one is an error that says what replaced it.
_REPLACED = {("general", "host_id"): "[spawner] host_id",
             ("workers", "default_mem_limit"): "[limits] memory_max",
             ("workers", "default_max_cpus"): "[limits] cpu_quota (in CPUs)"}


def _field_type(section_obj: Any, key: str) -> Any:
    for f in dataclasses.fields(section_obj):
        if f.name == key:
            return f.type
    section = type(section_obj).__name__.lower()
    if (section, key) in _REPLACED:
        raise ConfigError(f"[{section}] {key} is no longer read; use {_REPLACED[section, key]}")
    raise ConfigError(f"unknown setting '{key}' in section [{section}]")


def _convert(section_obj: Any, key: str, raw: Any, section: str, base: Path | None = None) -> Any:
    kind = _field_type(section_obj, key)
    if not isinstance(raw, str):
        return raw
    value = raw.strip()
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            low = value.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if kind == "Path":
            path = Path(os.path.expanduser(value))
            if not path.is_absolute():
                path = (base or Path.cwd()) / path
            return path.resolve()
        if kind.startswith("tuple"):
            return tuple(v.strip() for v in value.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"[{section}] {key} = {raw!r} is not a valid {kind}") from None
    return value


def _find_file(path: str | os.PathLike | None, environ: Mapping[str, str]) -> Path | None:
    explicit = path or environ.get("ABACO_CONF")
    if explicit:
        if not Path(explicit).is_file():
            raise ConfigError(f"config file {explicit} does not exist")
        return Path(explicit).resolve()
    for candidate in (Path.cwd() / "abaco.conf", REPO_ROOT / "abaco.conf"):
        if candidate.is_file():
            return candidate.resolve()
    return None


def load(path: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read the config file and environment overrides into a Config."""
    environ = os.environ if environ is None else environ
    conf_file = _find_file(path, environ)
    parser = configparser.ConfigParser(inline_comment_prefixes=(";", "#"), interpolation=None)
    if conf_file:
        parser.read(conf_file)
    base = conf_file.parent if conf_file else REPO_ROOT
    sections = {}
    for name in _SECTIONS:
        default = Config.__dataclass_fields__[name].default_factory()  # type: ignore[operator]
        values = {}
        if parser.has_section(name):
            for key, raw in parser.items(name):
                values[key] = _convert(default, key, raw, name, base)
        prefix = f"ABACO_{name.upper()}_"
        for env_key, raw in environ.items():
            if env_key.startswith(prefix):
                key = env_key[len(prefix):].lower()
                values[key] = _convert(default, key, raw, name, Path.cwd())
        sections[name] = dataclasses.replace(default, **values)
    for unknown in set(parser.sections()) - set(_SECTIONS):
        raise ConfigError(f"unknown section [{unknown}] in {conf_file}")
    config = resolve_credentials(Config(**sections, source=str(conf_file or "defaults")))
    _validate(config)
    return config


COMPAT_MODES = ("abaco", "http")   # [web] compat: whose status codes errors carry (actors/errors.py)
# The capabilities [workers] cap_add may give back to ordinary containers: none of them
# lets a process leave its container (no SYS_ADMIN, SYS_PTRACE, SYS_MODULE, NET_ADMIN, ...).
CAP_ADD_ALLOWED = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
                   "NET_BIND_SERVICE")


def resolve_credentials(config: Config) -> Config:
    """Fill in the Redis and RabbitMQ credentials that no setting gave.

    A setting (abaco.conf or ABACO_*) wins; else the files `make up` made in the keys
    directory (actors/credentials.py); else no Redis password and RabbitMQ's guest/guest.
    """
    rabbit = config.rabbit
    if bool(rabbit.user) != bool(rabbit.password):
        raise ConfigError("[rabbit] user and password are set together (or both left empty)")
    store = config.store
    if not store.redis_password:
        store = dataclasses.replace(store, redis_password=credentials.redis_password(config.keys_dir))
    if not rabbit.user:
        user, password = credentials.rabbit_credentials(config.keys_dir) or ("guest", "guest")
        rabbit = dataclasses.replace(rabbit, user=user, password=password)
    return dataclasses.replace(config, store=store, rabbit=rabbit)


def _validate(config: Config) -> None:
    refused = [c for c in config.workers.cap_add if c.upper() not in CAP_ADD_ALLOWED]
    if refused:
        raise ConfigError(f"[workers] cap_add may give back only {', '.join(CAP_ADD_ALLOWED)}; "
                          f"not {', '.join(refused)}")
    if config.web.case not in ("snake", "camel"):
        raise ConfigError("[web] case must be 'snake' or 'camel'")
    if config.web.compat not in COMPAT_MODES:
        raise ConfigError(f"[web] compat must be one of {', '.join(COMPAT_MODES)}")
    if config.workers.container_network not in ("none", "host"):
        raise ConfigError("[workers] container_network must be 'none' or 'host'")
    if config.events.link_max_depth < 0:
        raise ConfigError("[events] link_max_depth must be 0 or more")
    problem = host_labels.check_host(config.spawner.host_id, config.spawner.host_labels)
    if problem:
        raise ConfigError(f"[spawner] {problem}")
    if config.autoscaler.source not in ("prometheus", "direct"):
        raise ConfigError("[autoscaler] source must be 'prometheus' or 'direct'")
    for name in ("listen", "prometheus_listen", "alertmanager_listen"):
        host, _, port = getattr(config.autoscaler, name).rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"[autoscaler] {name} must be host:port")
    if config.autoscaler.interval <= 0 or config.autoscaler.stable_window <= 0 or config.autoscaler.panic_window <= 0:
        raise ConfigError("[autoscaler] interval, stable_window and panic_window must be above 0")
    if not config.general.instance.replace("-", "").replace("_", "").isalnum():
        raise ConfigError("[general] instance may hold only letters, digits, '-' and '_'")


def main(argv: list[str] | None = None) -> int:
    """Print resolved settings: ``python -m actors.config section.key [...]``."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m actors.config SECTION.KEY [SECTION.KEY ...]\n"
              "prints each resolved setting (file plus ABACO_<SECTION>_<KEY> overrides)")
        return 0 if argv else 2
    config = load()
    for item in argv:
        section, _, key = item.partition(".")
        if section in ("data_dir", "run_dir", "keys_dir", "log_dir", "pid_dir", "worker_pid_dir", "api_socket",
                       "tls_cert_dir") and not key:
            print(getattr(config, section))
            continue
        try:
            value = getattr(getattr(config, section), key)
        except AttributeError:
            print(f"unknown setting {item}", file=sys.stderr)
            return 2
        print(",".join(value) if isinstance(value, tuple) else value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
