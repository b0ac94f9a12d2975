"""The WSGI entry point for gunicorn: ``gunicorn 'actors.api.wsgi:app'``."""

from actors import config
from actors.api import create_app
from actors.services import setup_logging

_config = config.load()
setup_logging("api", _config)
app = create_app(_config)
