"""The API process: gunicorn serving ``actors.api`` on ``[web] host:port`` and the unix socket.

Threads (gthread), so requests that wait on a synchronous execution do not block the
others. gunicorn's own settings come from here, not from a command line written
elsewhere, so every way of running the platform runs the API the same way.
"""

from __future__ import annotations

import sys

from gunicorn.app.base import BaseApplication

from actors.config import Config
from actors.services import command_line, start

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
        "accesslog": "-",
        "errorlog": "-",
        "control_socket": str(config.run_dir / f"gunicorn-{config.web.port}.ctl"),
    }
    return out


class Gunicorn(BaseApplication):
    def __init__(self, settings: dict):
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.settings.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self):
        from gunicorn.util import import_app
        return import_app(APP)


def main(argv: list[str] | None = None) -> int:
    args = command_line("abaco-api", "Serve the HTTP API with gunicorn on [web] host:port and "
                        "<data_dir>/run/api.sock.").parse_args(argv)
    config = start("api", args)
    config.run_dir.mkdir(parents=True, exist_ok=True)
    Gunicorn(options(config)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
