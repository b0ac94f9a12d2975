"""The Django dashboard: the platform's web pages, built on its HTTP API only.

It never reads Redis or RabbitMQ: every page is made from API calls carrying the
signed-in user's own token (kept server-side in the session), so what the API refuses
the dashboard cannot show or do. ``dashboard.settings.setup(config)`` configures Django
from the platform's Config; ``dashboard.wsgi.application(config)`` is the WSGI app.
"""
