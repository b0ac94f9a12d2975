"""The dashboard's WSGI application, for gunicorn (actors/services/dashboard.py)."""

from __future__ import annotations

from actors.config import Config


def application(config: Config):
    from dashboard import settings
    settings.setup(config)
    from django.core.wsgi import get_wsgi_application
    return get_wsgi_application()
