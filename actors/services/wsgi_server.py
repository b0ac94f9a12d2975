"""gunicorn serving one WSGI application, with its settings given here rather than on a
command line (the API and the dashboard each pass theirs, made from the platform's Config)."""

from __future__ import annotations

from typing import Any, Callable

from gunicorn.app.base import BaseApplication


class Gunicorn(BaseApplication):
    def __init__(self, settings: dict, load: Callable[[], Any]):
        self.settings, self._load = settings, load
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.settings.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Any:
        return self._load()
