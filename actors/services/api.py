"""The API process: gunicorn serving ``actors.api`` on ``[web] host:port`` and the unix socket.

Threads (gthread), so requests that wait on a synchronous execution do not block the
others. gunicorn's own settings come from here, not from a command line written
elsewhere, so every way of running the platform runs the API the same way.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time

from gunicorn.glogging import Logger

from actors.config import Config
from actors.services import command_line, start
from actors.services.wsgi_server import Gunicorn

APP = "actors.api.wsgi:app"


def options(config: Config) -> dict:
    """gunicorn's settings for this configuration."""
    out = {
        "bind": [f"{config.web.host}:{config.web.port}"] +
                ([f"unix:{config.api_socket}"] if config.web.bind_unix_socket else []),
        "workers": config.web.gunicorn_workers,
        "worker_class": "gthread",
        "threads": config.web.gunicorn_threads,
        # A worker whose main loop stops heartbeating is restarted; requests are not timed here.
        "timeout": 30,
        "graceful_timeout": 10,
        "accesslog": "-" if config.web.access_log else None,
        "errorlog": "-",
        "logger_class": "actors.services.api.AccessLog",
        "control_socket": str(config.run_dir / f"gunicorn-{config.web.port}.ctl"),
    }
    return out


SECRET_PARAMS = re.compile(r"((?:^|&)x-nonce=)[^&]*", re.IGNORECASE)


def masked(query: str) -> str:
    """A query string with the value of every ``x-nonce`` replaced: logs never hold a nonce."""
    return SECRET_PARAMS.sub(r"\1***", query)


class AccessLog(Logger):
    """One short line per request (time, client, request line, status, bytes, milliseconds),
    nonces masked. Lines are collected and written to the log every ``FLUSH_EVERY`` seconds
    by one thread, not one write per request: a crash may lose the last second of lines."""

    FLUSH_EVERY = 0.5

    def setup(self, cfg) -> None:
        super().setup(cfg)
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._flusher: threading.Thread | None = None
        self._flusher_pid = 0

    def access(self, resp, req, environ, request_time) -> None:
        if not self.cfg.accesslog:
            return
        query = environ.get("QUERY_STRING", "")
        target = req.path + ("?" + masked(query) if query else "")
        millis = request_time.seconds * 1000 + request_time.microseconds / 1000
        line = (f'{time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())} {environ.get("REMOTE_ADDR", "-")} '
                f'"{req.method} {target}" {resp.status_code} {getattr(resp, "sent", "-")} {millis:.1f}ms\n')
        with self._lock:
            self._lines.append(line)
            if self._flusher_pid != os.getpid():          # one flusher per (forked) worker process
                self._flusher_pid = os.getpid()
                self._flusher = threading.Thread(target=self._flush_forever, daemon=True, name="access-log")
                self._flusher.start()

    def _flush_forever(self) -> None:
        while True:
            time.sleep(self.FLUSH_EVERY)
            with self._lock:
                lines, self._lines = self._lines, []
            if lines:
                try:
                    sys.stdout.write("".join(lines))
                    sys.stdout.flush()
                except OSError:
                    pass


def load_app():
    from gunicorn.util import import_app
    return import_app(APP)


def main(argv: list[str] | None = None) -> int:
    args = command_line("abaco-api", "Serve the HTTP API with gunicorn on [web] host:port and "
                        "<data_dir>/run/api.sock.").parse_args(argv)
    config = start("api", args)
    config.run_dir.mkdir(parents=True, exist_ok=True)
    Gunicorn(options(config), load_app).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
