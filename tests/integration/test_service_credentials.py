"""The stack's Redis and RabbitMQ take only the platform's credentials (README, "Service credentials").

Each attack sits next to the legitimate use: a client without the Redis password gets
NOAUTH while the platform's store answers; RabbitMQ's guest/guest is refused while the
platform's user connects; the credentials are in 0600 files and on no command line; and
with all that, a message still runs, in a container that is given none of them.
"""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pika
import pika.exceptions
import pytest
import redis

from actors import channels, credentials
from actors import config as config_mod
from actors.store.redis import RedisBackend

AUTH_REFUSED = (pika.exceptions.ProbableAuthenticationError, pika.exceptions.AuthenticationError)


@pytest.fixture(scope="module")
def stack():
    """The settings of the stack `make up` started (ABACO_* overrides point at another one)."""
    cfg = config_mod.load()
    assert cfg.store.redis_password, f"no Redis password for the stack of {cfg.data_dir}; start it with `make up`"
    assert cfg.rabbit.user != "guest", f"the stack of {cfg.data_dir} still uses guest; start it with `make up`"
    return cfg


def anonymous_redis(cfg, password: str | None = None) -> redis.Redis:
    return redis.Redis(host=cfg.store.redis_host, port=cfg.store.redis_port, password=password,
                       socket_timeout=10, socket_connect_timeout=5)


def rabbit_as(cfg, user: str, password: str) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.ConnectionParameters(
        host=cfg.rabbit.host, port=cfg.rabbit.port, virtual_host=cfg.rabbit.vhost,
        credentials=pika.PlainCredentials(user, password), connection_attempts=1, socket_timeout=10))


def raw_redis(cfg, *commands: bytes) -> list[bytes]:
    """The first line of Redis' answer to each command, sent by a client that knows no password."""
    answers = []
    with socket.create_connection((cfg.store.redis_host, cfg.store.redis_port), timeout=10) as sock:
        reader = sock.makefile("rb")
        for command in commands:
            sock.sendall(command + b"\r\n")
            answers.append(reader.readline().rstrip())
    return answers


def test_redis_without_the_password_gets_noauth(stack):
    answers = raw_redis(stack, b"PING", b"KEYS *", b"GET x", b"CONFIG SET requirepass ''", b"AUTH guessed")
    assert [a.split(b" ")[0] for a in answers] == [b"-NOAUTH"] * 4 + [b"-WRONGPASS"], answers
    with pytest.raises(redis.AuthenticationError):
        anonymous_redis(stack).ping()
    with pytest.raises(redis.AuthenticationError):
        anonymous_redis(stack, password="not-the-password").ping()
    backend = RedisBackend(stack)
    try:
        backend.ping()
        assert backend.client.dbsize() >= 0
    finally:
        backend.close()


def test_rabbitmq_refuses_guest(stack):
    with pytest.raises(AUTH_REFUSED):
        rabbit_as(stack, "guest", "guest")
    with pytest.raises(AUTH_REFUSED):
        rabbit_as(stack, stack.rabbit.user, "not-the-password")
    conn = channels.connect(stack, name="test_service_credentials")
    try:
        channel = conn.channel()
        queue = channel.queue_declare("", exclusive=True).method.queue
        channel.basic_publish("", queue, b"ping")
        method, _, body = channel.basic_get(queue, auto_ack=True)
        assert body == b"ping"
    finally:
        conn.close()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_credentials_are_in_private_files(stack):
    keys = stack.keys_dir
    assert mode(keys) == 0o700
    for name in (credentials.REDIS_PASSWORD, credentials.RABBIT_CREDENTIALS):
        assert mode(keys / name) == 0o600, name
    assert mode(stack.data_dir / "redis" / "redis.conf") == 0o600
    assert mode(stack.data_dir / "redis") == 0o700


def test_no_command_line_shows_a_password(stack):
    secrets_ = {stack.store.redis_password.encode(), stack.rabbit.password.encode()}
    seen = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        seen += 1
        assert not any(s in cmdline for s in secrets_), f"pid {proc.name}: {cmdline[:80]!r}"
    assert seen > 10


def test_a_message_runs_and_its_container_sees_no_credential(platform, stack):
    assert platform.config.store.redis_password == stack.store.redis_password
    assert platform.config.rabbit.user == stack.rabbit.user
    actor = platform.register("abaco/echo:local")
    eid = platform.ok("POST", f"/actors/{actor['id']}/messages", data={"message": "through the locks"})["execution_id"]
    execution = platform.wait_execution(actor["id"], eid)
    assert execution["status"] == "COMPLETE", execution
    logs = platform.ok("GET", f"/actors/{actor['id']}/executions/{eid}/logs")["logs"]
    assert "Contents of MSG: through the locks" in logs
    for secret in (stack.store.redis_password, stack.rabbit.password):
        assert secret not in logs
    assert "ABACO_RABBIT" not in logs and "ABACO_STORE" not in logs
