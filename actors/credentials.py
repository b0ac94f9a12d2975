"""The passwords of the stack's own Redis and RabbitMQ, made once in the keys directory.

``scripts/stack.sh up`` runs ``python -m actors.credentials`` before it starts the
services: a random Redis password in ``<data_dir>/keys/redis.password`` and a RabbitMQ
user with a random password in ``<data_dir>/keys/rabbit.credentials`` (the user on the
first line, the password on the second), each 0600 in a 0700 directory. A file that
exists is never replaced, so the services and every process keep agreeing across
restarts. :func:`actors.config.load` reads them when abaco.conf sets no credentials.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

REDIS_PASSWORD = "redis.password"
RABBIT_CREDENTIALS = "rabbit.credentials"
RABBIT_USER = "abaco"
SCRAPE_TOKEN = "metrics.token"   # Prometheus's bearer token for /metrics (every tenant's figures)


def _write_once(path: Path, text: str) -> None:
    """Write ``text`` to a new 0600 file at ``path`` unless one exists (also when another process races us)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    try:
        os.link(tmp, path)             # fails if the file exists
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def ensure(keys_dir: Path) -> None:
    """Create the keys directory (0700) and whichever credential file is missing (0600)."""
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    keys_dir.chmod(0o700)
    if not (keys_dir / REDIS_PASSWORD).exists():
        _write_once(keys_dir / REDIS_PASSWORD, secrets.token_hex(32) + "\n")
    if not (keys_dir / RABBIT_CREDENTIALS).exists():
        _write_once(keys_dir / RABBIT_CREDENTIALS, f"{RABBIT_USER}\n{secrets.token_hex(32)}\n")
    ensure_scrape_token(keys_dir)


def ensure_scrape_token(keys_dir: Path) -> str:
    """The scrape token of this data directory, made (0600) if missing."""
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not (keys_dir / SCRAPE_TOKEN).exists():
        _write_once(keys_dir / SCRAPE_TOKEN, secrets.token_hex(32) + "\n")
    return scrape_token(keys_dir)


def scrape_token(keys_dir: Path) -> str:
    """Prometheus's bearer token for /metrics and the autoscaler's endpoints; '' when there is none."""
    lines = _lines(keys_dir / SCRAPE_TOKEN)
    return lines[0].strip() if lines else ""


def _lines(path: Path) -> list[str]:
    """The file's lines, or none when it is missing or not ours to read."""
    try:
        return path.read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return []


def redis_password(keys_dir: Path) -> str:
    """The password in the keys directory; '' when there is none."""
    lines = _lines(keys_dir / REDIS_PASSWORD)
    return lines[0].strip() if lines else ""


def rabbit_credentials(keys_dir: Path) -> tuple[str, str] | None:
    """(user, password) from the keys directory, or None when there are none."""
    lines = [line.strip() for line in _lines(keys_dir / RABBIT_CREDENTIALS)]
    if len(lines) < 2 or not lines[0] or not lines[1]:
        return None
    return lines[0], lines[1]


def main(argv: list[str] | None = None) -> int:
    """``python -m actors.credentials``: make the missing credential files of the configured data directory."""
    from actors import config as config_mod
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        print("usage: python -m actors.credentials\n"
              "creates <data_dir>/keys/redis.password and rabbit.credentials if missing (0600)")
        return 0 if argv[0] in ("-h", "--help") else 2
    ensure(config_mod.load().keys_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
