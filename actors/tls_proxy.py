"""The nginx configuration of the platform's TLS proxy, rendered from images/nginx/.

``scripts/stack.sh`` runs nginx with it in every access mode: HTTPS on ``[auth] tls_listen``
with a server certificate from ``tls_cert_dir``. In the ``mtls`` mode nginx also asks for a
client certificate and passes the verified subject to the API; the API believes those
headers only from ``[auth] trusted_proxies`` and only with the shared secret in
``<tls_cert_dir>/proxy.secret`` (0600), which nginx adds to each request, so no other local
process can pose as the proxy (the rendered file then holds the secret: keep it 0600 too).
In the other modes nginx asks for no certificate, sends no secret and clears those headers,
passing ``Authorization`` and a gateway's ``X-Jwt-Assertion-*`` through unchanged.

``python -m actors.tls_proxy`` prints it for the configured settings
(``[web] access_control``, ``[auth] tls_listen``, ``tls_cert_dir``, the API's address as upstream).
``python -m actors.tls_proxy --serve`` becomes nginx with the rendered file (supervisord's
``tls`` program): nginx's workers outlive a master killed with SIGKILL and keep its port, so
the workers of the previous master (its process group, named in nginx's pid file) are
ended first, and a restarted proxy can listen again.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import time
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


CLIENT_TLS = """        ssl_client_certificate {cert_dir}/ca.pem;
        # Checked here, refused by the API (a 401 in its JSON envelope) unless SUCCESS.
        ssl_verify_client optional_no_ca;
        ssl_verify_depth 2;"""


def _identity_headers(config: Config, mtls: bool) -> str:
    """nginx lines setting the headers the API trusts from nginx in the mtls mode (the verified
    certificate and the shared secret), or clearing them, so a client cannot send them, in the
    other modes."""
    from actors.auth import PROXY_SECRET_HEADER  # auth imports this module
    if not mtls:
        values = ('""', '""', '""')           # an empty value: nginx drops the header
    else:
        values = ("$ssl_client_verify", "$ssl_client_s_dn", f'"{proxy_secret(config)}"')
    names = (config.auth.mtls_verify_header, config.auth.mtls_dn_header, PROXY_SECRET_HEADER)
    return "\n".join(f"            proxy_set_header {name} {value};" for name, value in zip(names, values, strict=True))


def _check_none_mode(config: Config, listen: str) -> None:
    """The ``none`` mode (everyone is the development admin) stays on loopback behind nginx too."""
    from actors.auth import LOOPBACK_HOSTS  # auth imports this module
    host = listen.rpartition(":")[0].strip("[]") if ":" in listen else listen
    if config.web.access_control == "none" and host not in LOOPBACK_HOSTS:
        raise ValueError(f"[auth] tls_listen = {listen}: in the none access mode the TLS proxy listens "
                         f"only on loopback ({', '.join(LOOPBACK_HOSTS)})")


def render(config: Config, listen: str | None = None, cert_dir: Path | None = None,
           upstream: str | None = None, log_dir: Path | None = None, run_dir: Path | None = None) -> str:
    mtls = config.web.access_control == "mtls"
    listen = listen or config.auth.tls_listen
    _check_none_mode(config, listen)
    certs = str(cert_dir or config.tls_cert_dir)
    values = {
        "LISTEN": listen,
        "CERT_DIR": certs,
        "UPSTREAM": upstream or f"{config.web.host}:{config.web.port}",
        "RUN_DIR": str(run_dir or config.run_dir),
        "LOG_DIR": str(log_dir or config.log_dir),
        "MAX_BODY": str(config.web.max_body_bytes),
        "READ_TIMEOUT": str(config.web.sync_timeout + 30),
        "CLIENT_TLS": CLIENT_TLS.format(cert_dir=certs) if mtls else "",
        "IDENTITY_HEADERS": _identity_headers(config, mtls),
    }
    text = TEMPLATE.read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


def orphans(pidfile: Path, proc: Path = Path("/proc")) -> list[int]:
    """Processes named nginx left in the process group of the master ``pidfile`` names,
    when that master is gone (a live master is left alone: it is not ours to end)."""
    try:
        leader = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return []
    if (proc / str(leader)).exists():
        return []
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            # Fields after the command name (which may hold spaces): state, ppid, pgrp, ...
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if comm == "nginx" and int(fields[2]) == leader:
            found.append(int(entry.name))
    return found


def serve(config: Config, grace: float = 5.0) -> None:
    """End the orphaned workers of a previous master, then exec nginx (never returns)."""
    pidfile = config.run_dir / "nginx.pid"
    left = orphans(pidfile)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while left and time.monotonic() < deadline:
        left = [pid for pid in left if Path(f"/proc/{pid}").exists()]
        time.sleep(0.05)
    conf = str(config.run_dir / "nginx.conf")
    os.execvp("nginx", ["nginx", "-c", conf])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actors.tls_proxy",
                                     description="Print the nginx configuration of the platform's TLS proxy.")
    parser.add_argument("--config", help="path to abaco.conf")
    parser.add_argument("--serve", action="store_true",
                        help="run nginx with the rendered configuration (after ending a killed master's workers)")
    args = parser.parse_args(argv)
    if args.serve:
        serve(config_mod.load(args.config))
    try:
        sys.stdout.write(render(config_mod.load(args.config)))
    except ValueError as exc:
        print(f"tls_proxy: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
