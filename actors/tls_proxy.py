"""The nginx configuration of the mtls access mode, rendered from images/nginx/.

The API believes the certificate headers only from ``[auth] trusted_proxies`` and only
with the shared secret in ``<tls_cert_dir>/proxy.secret`` (0600), which nginx adds to each
request; so no other local process can pose as the proxy. The rendered file holds the
secret: keep it 0600 too.

``python -m actors.tls_proxy`` prints it for the configured settings
(``[auth] tls_listen``, ``tls_cert_dir``, the API's address as upstream);
``scripts/stack.sh`` runs nginx with it when ``[web] access_control = mtls``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from actors import config as config_mod
from actors.config import REPO_ROOT, Config

TEMPLATE = REPO_ROOT / "images" / "nginx" / "nginx.conf.template"


def proxy_secret(config: Config) -> str:
    """The shared secret nginx sends with each request (created 0600 on first use)."""
    path = config.tls_cert_dir / "proxy.secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def render(config: Config, listen: str | None = None, cert_dir: Path | None = None,
           upstream: str | None = None, log_dir: Path | None = None) -> str:
    values = {
        "LISTEN": listen or config.auth.tls_listen,
        "CERT_DIR": str(cert_dir or config.tls_cert_dir),
        "UPSTREAM": upstream or f"{config.web.host}:{config.web.port}",
        "RUN_DIR": str(config.run_dir),
        "LOG_DIR": str(log_dir or config.log_dir),
        "MAX_BODY": str(config.web.max_body_bytes),
        "READ_TIMEOUT": str(config.web.sync_timeout + 30),
        "PROXY_SECRET": proxy_secret(config),
    }
    text = TEMPLATE.read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actors.tls_proxy",
                                     description="Print the nginx configuration of the mtls access mode.")
    parser.add_argument("--config", help="path to abaco.conf")
    args = parser.parse_args(argv)
    sys.stdout.write(render(config_mod.load(args.config)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
