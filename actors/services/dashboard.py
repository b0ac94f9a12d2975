"""The dashboard process: gunicorn serving the Django dashboard on ``[dashboard] host:port``.

The dashboard talks to the platform only through its HTTP API (``[dashboard] api_url``,
by default this host's API), with the signed-in user's own token. Its Django settings are
built from the Config read here (dashboard/settings.py); its secret key is made once in
the keys directory. Threads (gthread), so a followed live log does not block other pages.
"""

from __future__ import annotations

import sys

from actors.config import Config
from actors.services import command_line, start
from actors.services.wsgi_server import Gunicorn


def options(config: Config) -> dict:
    """gunicorn's settings for this configuration."""
    return {
        "bind": [f"{config.dashboard.host}:{config.dashboard.port}"],
        "workers": 1,
        "worker_class": "gthread",
        "threads": max(2, config.dashboard.threads),
        "timeout": 30,
        "graceful_timeout": 5,
        "accesslog": "-",
        "errorlog": "-",
        "control_socket": str(config.run_dir / f"gunicorn-dashboard-{config.dashboard.port}.ctl"),
    }


def load_app(config: Config):
    from dashboard.wsgi import application
    return application(config)


def main(argv: list[str] | None = None) -> int:
    args = command_line("abaco-dashboard", "Serve the Django dashboard with gunicorn on "
                        "[dashboard] host:port; it calls the API at [dashboard] api_url.").parse_args(argv)
    config = start("dashboard", args)
    config.run_dir.mkdir(parents=True, exist_ok=True)
    Gunicorn(options(config), lambda: load_app(config)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
