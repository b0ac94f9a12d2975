"""Django settings built from the platform's Config (never from os.environ or a settings file).

Sessions are files in ``<data_dir>/dashboard/sessions``: the cookie holds only a session
id and the API token stays on the server. CSRF protection is on for every form; the
session and CSRF cookies are Secure (``[dashboard] secure_cookies``, on by default:
browsers keep them over HTTPS and on loopback HTTP), SameSite=Lax, and the session's is HttpOnly.
"""

from __future__ import annotations

from pathlib import Path

import django
from django.conf import settings

from actors import credentials
from actors.config import Config

HERE = Path(__file__).resolve().parent


def api_url(config: Config) -> str:
    """The API the dashboard calls: ``[dashboard] api_url``, else this host's own API."""
    if config.dashboard.api_url:
        return config.dashboard.api_url.rstrip("/")
    host = config.web.host if config.web.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return f"http://{host}:{config.web.port}"


def build(config: Config) -> dict:
    """The keyword arguments of ``django.conf.settings.configure`` for this configuration."""
    sessions = config.data_dir / "dashboard" / "sessions"
    sessions.mkdir(parents=True, exist_ok=True, mode=0o700)
    secure = config.dashboard.secure_cookies
    return {
        "DEBUG": False,
        "SECRET_KEY": config.dashboard.secret_key or credentials.dashboard_secret(config.keys_dir),
        "ALLOWED_HOSTS": sorted({config.dashboard.host, "127.0.0.1", "localhost", "[::1]", "testserver"}),
        "ROOT_URLCONF": "dashboard.urls",
        "INSTALLED_APPS": ["django.contrib.sessions", "dashboard"],
        "MIDDLEWARE": [
            "django.middleware.security.SecurityMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
            "dashboard.middleware.ApiTrouble",
        ],
        "DATABASES": {},
        "SESSION_ENGINE": "django.contrib.sessions.backends.file",
        "SESSION_FILE_PATH": str(sessions),
        "SESSION_COOKIE_NAME": "abaco_dashboard",
        "SESSION_COOKIE_SECURE": secure,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_AGE": 12 * 3600,
        "CSRF_COOKIE_SECURE": secure,
        "CSRF_COOKIE_SAMESITE": "Lax",
        "CSRF_FAILURE_VIEW": "dashboard.views.csrf_failure",
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "X_FRAME_OPTIONS": "DENY",
        "USE_TZ": True,
        "TIME_ZONE": "UTC",
        "TEMPLATES": [{
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {"context_processors": ["django.template.context_processors.request",
                                               "django.template.context_processors.csrf",
                                               "dashboard.views.signed_in_user"]},
        }],
        "STATIC_URL": "/static/",
        "STATIC_ROOT": str(HERE / "static"),
        "DATA_UPLOAD_MAX_MEMORY_SIZE": config.web.max_message_bytes + 65536,
        "FILE_UPLOAD_MAX_MEMORY_SIZE": config.web.max_message_bytes + 65536,
        "LOGGING_CONFIG": None,
        "ABACO_API_URL": api_url(config),
        "ABACO_API_TIMEOUT": config.dashboard.api_timeout,
        "ABACO_MAX_MESSAGE_BYTES": config.web.max_message_bytes,
    }


def setup(config: Config) -> None:
    """Configure Django once for this process (a second call with the process's config is a no-op)."""
    if not settings.configured:
        settings.configure(**build(config))
    django.setup()
