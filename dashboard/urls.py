"""The dashboard's URLs."""

from __future__ import annotations

from django.conf import settings
from django.urls import path, re_path
from django.views.static import serve

from dashboard import views

handler400 = "dashboard.views.bad_request"
handler404 = "dashboard.views.not_found"
handler500 = "dashboard.views.server_error"

E = "actors/<str:actor_id>/executions/<str:execution_id>"

urlpatterns = [
    path("", views.actors, name="actors"),
    path("signin", views.signin, name="signin"),
    path("signout", views.signout, name="signout"),
    path("actors/<str:actor_id>", views.actor, name="actor"),
    path("actors/<str:actor_id>/send", views.send_message, name="send"),
    path("actors/<str:actor_id>/do/<str:action>", views.actor_action, name="actor_action"),
    path(E, views.execution, name="execution"),
    path(E + "/logs.json", views.execution_logs, name="execution_logs"),
    path(E + "/stream", views.execution_stream, name="execution_stream"),
    path(E + "/results", views.execution_results, name="execution_results"),
    path(E + "/quit", views.execution_quit, name="execution_quit"),
    path("admin/", views.admin_overview, name="admin"),
    path("admin/workers", views.admin_workers, name="admin_workers"),
    path("admin/executions", views.admin_executions, name="admin_executions"),
    path("admin/accounting", views.admin_accounting, name="admin_accounting"),
    path("admin/accounting/export", views.admin_accounting_export, name="admin_accounting_export"),
    # The few static files (CSS, the live-log script) come from the package itself: nothing
    # is fetched from elsewhere, so every page works offline.
    re_path(r"^static/(?P<path>[A-Za-z0-9_./-]+)$", serve, {"document_root": settings.STATIC_ROOT}),
]
