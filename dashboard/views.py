"""The dashboard's pages. Each one is built from API calls made with the signed-in user's
token (``request.api``), so it shows and does exactly what the API allows that user."""

from __future__ import annotations

import functools
import json
import time
from urllib.parse import quote, urlencode

from django.conf import settings
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from dashboard import plots
from dashboard.api import Api, ApiError, SignedOut, message_of
from dashboard.forms import (
    ActorForm,
    AliasForm,
    MessageForm,
    NonceForm,
    PermissionForm,
    RangeForm,
    SignInForm,
    UpdateForm,
    form_fields,
    show_api_error,
)

TERMINAL = ("COMPLETE", "ERROR")
RECENT_EXECUTIONS = 50


def api_for(token: str | None) -> Api:
    return Api(settings.ABACO_API_URL, token, settings.ABACO_API_TIMEOUT)


def signed_in_user(request) -> dict:
    """Template context: who is signed in (from the session), and a notice to show once."""
    session = getattr(request, "session", None)
    if session is None or not session.get("token"):
        return {"who": None}
    return {"flash": session.pop("notice", ""),
            "who": {"user": session.get("user"), "role": session.get("role"), "tenant": session.get("tenant"),
                    "is_admin": session.get("role") == "admin"}}


def signed_in(view):
    """The view runs with ``request.api`` carrying the session's token; else to sign-in."""
    @functools.wraps(view)
    def wrapper(request, *args, **kw):
        token = request.session.get("token")
        if not token:
            return HttpResponseRedirect("/signin?" + urlencode({"next": request.get_full_path()}))
        request.api = api_for(token)
        return view(request, *args, **kw)
    return wrapper


def admin_only(view):
    """Admins only: anyone else gets a 403 page (and the API refuses them anyway)."""
    @functools.wraps(view)
    @signed_in
    def wrapper(request, *args, **kw):
        if request.session.get("role") != "admin":
            return render(request, "dashboard/forbidden.html", {}, status=403)
        return view(request, *args, **kw)
    return wrapper


def _back(request, default: str) -> HttpResponseRedirect:
    target = request.POST.get("next") or default
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = default
    return HttpResponseRedirect(target)


# ------------------------------------------------------------------ sign in / out

@require_http_methods(["GET", "POST"])
def signin(request):
    form = SignInForm(request.POST or None)
    reason = request.GET.get("reason")
    nxt = request.POST.get("next") or request.GET.get("next") or "/"
    if request.method == "POST" and form.is_valid():
        data, anonymous = form.cleaned_data, api_for(None)
        token, refresh = data.get("token"), None
        try:
            if not token:
                issued = anonymous.call("POST", "/oauth2/token", data={
                    "grant_type": "client_credentials", "client_id": data["client_id"],
                    "client_secret": data["client_secret"]})
                token, refresh = issued.get("access_token"), issued.get("refresh_token")
            me = api_for(token).get("/whoami")
        except SignedOut as exc:
            form.add_error(None, f"The API refused these credentials: {exc}")
        except ApiError as exc:
            form.add_error(None, f"The API refused these credentials: {exc.message}")
        else:
            request.session.cycle_key()            # a new session id at sign-in (no fixation)
            request.session.update({"token": token, "refresh_token": refresh, "user": me["user"],
                                    "role": me["role"], "tenant": me["tenant"]})
            if not url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
                nxt = "/"
            return HttpResponseRedirect(nxt)
    return render(request, "dashboard/signin.html", {"form": form, "next": nxt, "reason": reason})


@require_POST
def signout(request):
    request.session.flush()
    return HttpResponseRedirect("/signin")


# ------------------------------------------------------------------ actors

@signed_in
@require_http_methods(["GET", "POST"])
def actors(request):
    form = ActorForm(request.POST or None, initial={"stateless": True})
    if request.method == "POST" and form.is_valid():
        try:
            actor = request.api.call("POST", "/actors", data=form_fields(form, ActorForm.FIELDS))
        except ApiError as exc:
            show_api_error(form, exc)
        else:
            return HttpResponseRedirect(f"/actors/{quote(actor['id'])}")
    listed = request.api.get("/actors") or []
    q = request.GET.get("q", "").strip().lower()
    status = request.GET.get("status", "").strip().upper()
    statuses = sorted({a.get("status") or "" for a in listed})
    shown = [a for a in listed
             if (not q or any(q in str(a.get(k) or "").lower() for k in ("id", "name", "image", "description", "owner")))
             and (not status or a.get("status") == status)]
    return render(request, "dashboard/actors.html", {
        "actors": shown, "total": len(listed), "q": request.GET.get("q", ""), "status": status,
        "statuses": statuses, "form": form, "open_form": request.method == "POST"})


def _actor_forms(request) -> dict:
    return {"update_form": UpdateForm(prefix="u"), "alias_form": AliasForm(prefix="a"),
            "permission_form": PermissionForm(prefix="p"), "nonce_form": NonceForm(prefix="n")}


def _actor_page(request, actor_id: str, forms: dict | None = None, status: int = 200, notice: str = ""):
    api = request.api
    actor = api.get(f"/actors/{quote(actor_id)}")
    aid = quote(actor["id"])
    workers, workers_error = api.maybe(f"/actors/{aid}/workers")
    head = api.get(f"/actors/{aid}/executions", limit=1)
    total = head.get("total_executions") or 0
    listing = api.get(f"/actors/{aid}/executions", offset=max(0, total - RECENT_EXECUTIONS),
                      limit=RECENT_EXECUTIONS, details="true")
    executions = list(reversed(listing.get("executions") or []))
    aliases, _ = api.maybe("/actors/aliases")
    permissions, permissions_error = api.maybe(f"/actors/{aid}/permissions")
    nonces, nonces_error = api.maybe(f"/actors/{aid}/nonces")
    initial = {k: actor.get(k) for k in ("image", "name", "description", "stateless", "token", "max_workers",
                                        "mem_limit")}
    initial["default_environment"] = _json(actor.get("default_environment") or {})
    all_forms = _actor_forms(request)
    all_forms["update_form"] = UpdateForm(prefix="u", initial=initial)
    all_forms.update(forms or {})
    context = {
        "actor": actor, "workers": workers or [], "workers_error": workers_error,
        "executions": executions, "total_executions": total, "totals": listing,
        "aliases": [a for a in (aliases or []) if a.get("actor_id") == actor["id"]],
        "permissions": permissions or {}, "permissions_error": permissions_error,
        "nonces": nonces or [], "nonces_error": nonces_error, "notice": notice, **all_forms,
    }
    return render(request, "dashboard/actor.html", context, status=status)


def _json(value) -> str:
    return json.dumps(value)


@signed_in
def actor(request, actor_id: str):
    return _actor_page(request, actor_id)


ACTOR_ACTIONS = {
    # action: (form class, its prefix, its name in the page's context)
    "update": (UpdateForm, "u", "update_form"),
    "alias": (AliasForm, "a", "alias_form"),
    "permission": (PermissionForm, "p", "permission_form"),
    "nonce": (NonceForm, "n", "nonce_form"),
}


@signed_in
@require_POST
def actor_action(request, actor_id: str, action: str):
    """The forms of an actor's page; a rejected one is shown again with the API's message."""
    api, aid = request.api, quote(actor_id)
    page = f"/actors/{aid}"
    simple = {
        "add-worker": lambda: api.call("POST", f"/actors/{aid}/workers", data={"num": request.POST.get("num", "1")}),
        "stop-worker": lambda: api.call("DELETE", f"/actors/{aid}/workers/{quote(request.POST.get('worker_id', ''))}"),
        "delete-nonce": lambda: api.call("DELETE", f"/actors/{aid}/nonces/{quote(request.POST.get('nonce_id', ''))}"),
        "delete-alias": lambda: api.call("DELETE", f"/actors/aliases/{quote(request.POST.get('alias', ''))}"),
        "delete": lambda: api.call("DELETE", f"/actors/{aid}"),
    }
    if action in simple:
        try:
            simple[action]()
        except ApiError as exc:
            return _actor_page(request, actor_id, status=400, notice=exc.message)
        return _redirect_notice(request, "/" if action == "delete" else page, "Done.")
    if action not in ACTOR_ACTIONS:
        return render(request, "dashboard/error.html", {"detail": f"no such action: {action}"}, status=404)
    form_class, prefix, name = ACTOR_ACTIONS[action]
    form = form_class(request.POST, prefix=prefix)
    if form.is_valid():
        data = form.cleaned_data
        try:
            if action == "update":
                api.call("PUT", f"/actors/{aid}", data=form_fields(form, UpdateForm.FIELDS))
            elif action == "alias":
                api.call("POST", "/actors/aliases", data={"alias": data["alias"], "actor_id": actor_id})
            elif action == "permission":
                api.call("POST", f"/actors/{aid}/permissions", data={"user": data["user"], "level": data["level"]})
            else:
                api.call("POST", f"/actors/{aid}/nonces", data=form_fields(form, ("level", "max_uses", "description")))
        except ApiError as exc:
            show_api_error(form, exc)
        else:
            return _redirect_notice(request, page, "Saved.")
    return _actor_page(request, actor_id, forms={name: form}, status=400)


# ------------------------------------------------------------------ messages

@signed_in
@require_http_methods(["GET", "POST"])
def send_message(request, actor_id: str):
    api, aid = request.api, quote(actor_id)
    actor = api.get(f"/actors/{aid}")
    form = MessageForm(request.POST or None, request.FILES or None)
    answer = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        params = dict(data["environment"])
        if data["synchronous"]:
            params["_abaco_synchronous"] = "true"
        kind = data["kind"]
        if kind == "raw":
            body, headers = {"message": data["message"]}, {}
        elif kind == "json":
            body, headers = data["message"].encode(), {"Content-Type": "application/json"}
        else:
            body, headers = data["file"].read(), {"Content-Type": "application/octet-stream"}
        wait = settings.ABACO_API_TIMEOUT + (300 if data["synchronous"] else 0)
        resp = api.request("POST", f"/actors/{aid}/messages", params=params, data=body, headers=headers, timeout=wait)
        if resp.status_code != 200:
            show_api_error(form, ApiError(resp.status_code, message_of(resp)))
        elif data["synchronous"]:
            raw = resp.content
            answer = {"execution_id": resp.headers.get("X-Abaco-Execution-Id"),
                      "status": resp.headers.get("X-Abaco-Execution-Status"),
                      "content_type": resp.headers.get("Content-Type", ""), "size": len(raw),
                      "text": raw[:20000].decode("utf-8", errors="replace")}
        else:
            execution_id = resp.json()["result"].get("execution_id") or resp.json()["result"].get("executionId")
            return HttpResponseRedirect(f"/actors/{aid}/executions/{quote(execution_id)}")
    return render(request, "dashboard/send.html", {"actor": actor, "form": form, "answer": answer},
                  status=400 if request.method == "POST" and not form.is_valid() else 200)


# ------------------------------------------------------------------ executions

def _execution_path(actor_id: str, execution_id: str) -> str:
    return f"/actors/{quote(actor_id)}/executions/{quote(execution_id)}"


@signed_in
def execution(request, actor_id: str, execution_id: str):
    api, path = request.api, _execution_path(actor_id, execution_id)
    record = api.get(path)
    terminal = record.get("status") in TERMINAL
    logs = api.get(path + "/logs").get("logs", "") if terminal else ""
    cpu, memory = plots.usage_points(record.get("samples"))
    return render(request, "dashboard/execution.html", {
        "actor_id": actor_id, "execution": record, "terminal": terminal, "logs": logs,
        "cpu_svg": plots.line_chart(cpu, "CPU over the run", "% of one CPU"),
        "memory_svg": plots.line_chart(memory, "Memory over the run", "MiB"),
        "final_state": _json(record.get("final_state") or {}),
    })


@signed_in
def execution_logs(request, actor_id: str, execution_id: str):
    """JSON for the page's poller: the logs so far and whether the execution has ended."""
    api, path = request.api, _execution_path(actor_id, execution_id)
    record = api.get(path)
    logs = api.get(path + "/logs").get("logs", "")
    return JsonResponse({"logs": logs, "status": record.get("status"), "exit_code": record.get("exit_code"),
                         "terminal": record.get("status") in TERMINAL})


@signed_in
def execution_stream(request, actor_id: str, execution_id: str):
    """The API's live log relayed as it comes (text/event-stream, Last-Event-ID passed on);
    when the API answers with the plain log instead, a JSON note that tells the page to poll."""
    headers = {"Accept": "text/event-stream"}
    if request.headers.get("Last-Event-ID"):
        headers["Last-Event-ID"] = request.headers["Last-Event-ID"]
    resp = request.api.request("GET", _execution_path(actor_id, execution_id) + "/logs", params={"follow": "true"},
                               headers=headers, stream=True, timeout=(settings.ABACO_API_TIMEOUT, 60))
    if resp.status_code != 200 or not resp.headers.get("Content-Type", "").startswith("text/event-stream"):
        resp.close()
        return JsonResponse({"stream": False, "status": resp.status_code})

    def relay():
        try:
            for chunk in resp.iter_content(chunk_size=None):
                if chunk:
                    yield chunk
        except Exception:           # the API closed or timed out: the page resumes with Last-Event-ID
            return
        finally:
            resp.close()
    out = StreamingHttpResponse(relay(), content_type="text/event-stream")
    out["Cache-Control"] = "no-cache"
    out["X-Accel-Buffering"] = "no"
    return out


@signed_in
@require_POST
def execution_results(request, actor_id: str, execution_id: str):
    """Take the execution's next result (the API hands each one out once) and show it."""
    resp = request.api.request("GET", _execution_path(actor_id, execution_id) + "/results")
    if resp.status_code != 200:
        return _redirect_notice(request, _execution_path(actor_id, execution_id), message_of(resp))
    raw = resp.content
    if request.POST.get("download"):
        out = HttpResponse(raw, content_type="application/octet-stream")
        out["Content-Disposition"] = f'attachment; filename="{execution_id}.result"'
        return out
    return render(request, "dashboard/result.html", {
        "actor_id": actor_id, "execution_id": execution_id, "size": len(raw),
        "text": raw[:20000].decode("utf-8", errors="replace"), "hex": raw[:512].hex(" ")})


def _redirect_notice(request, path: str, notice: str) -> HttpResponseRedirect:
    """Redirect, showing ``notice`` once on the next page (kept in the session, not the URL)."""
    request.session["notice"] = notice
    return HttpResponseRedirect(path)


@signed_in
@require_POST
def execution_quit(request, actor_id: str, execution_id: str):
    try:
        request.api.call("DELETE", _execution_path(actor_id, execution_id))
    except ApiError as exc:
        back = _back(request, _execution_path(actor_id, execution_id))["Location"]
        return _redirect_notice(request, back, exc.message)
    return _back(request, _execution_path(actor_id, execution_id))


# ------------------------------------------------------------------ admin

@admin_only
def admin_overview(request):
    api = request.api
    began = time.monotonic()
    overview = api.get("/admin/overview")
    api_ms = (time.monotonic() - began) * 1000
    hosts_resp = api.request("GET", "/admin/hosts")
    hosts = None
    if hosts_resp.status_code == 200:
        try:
            hosts = hosts_resp.json().get("result")
        except ValueError:
            hosts = None
    utilization, _ = api.maybe("/actors/utilization")
    return render(request, "dashboard/admin_overview.html", {
        "overview": overview, "api_ms": api_ms, "api_url": settings.ABACO_API_URL, "hosts": hosts,
        "hosts_list": hosts if isinstance(hosts, list) else None, "utilization": utilization or {}})


@admin_only
@require_http_methods(["GET", "POST"])
def admin_workers(request):
    api = request.api
    if request.method == "POST":
        aid, wid = request.POST.get("actor_id", ""), request.POST.get("worker_id", "")
        try:
            api.call("DELETE", f"/actors/{quote(aid)}/workers/{quote(wid)}")
            notice = f"Worker {wid} is stopping."
        except ApiError as exc:
            notice = exc.message
        return _redirect_notice(request, "/admin/workers", notice)
    status = request.GET.get("status", "")
    workers = api.get("/admin/workers", status=status)
    return render(request, "dashboard/admin_workers.html", {"workers": workers, "status": status})


@admin_only
def admin_executions(request):
    status = request.GET.get("status", "")
    listing = request.api.get("/admin/executions", status=status, limit=200)
    return render(request, "dashboard/admin_executions.html", {
        "listing": listing, "status": status,
        "statuses": ["", "SUBMITTED", "RUNNING", "COMPLETE", "ERROR"]})


def _range_params(form: RangeForm) -> dict:
    if not form.is_valid():
        return {}
    out = {}
    if form.cleaned_data.get("since"):
        out["since"] = form.cleaned_data["since"].isoformat()
    if form.cleaned_data.get("until"):
        out["until"] = form.cleaned_data["until"].isoformat() + "T23:59:59Z"
    return out


@admin_only
def admin_accounting(request):
    form = RangeForm(request.GET or None)
    params = _range_params(form)
    try:
        totals = request.api.get("/accounting", **params)
    except ApiError as exc:
        form.add_error(exc.field(["since", "until"]), exc.message)
        totals = {"total": {}, "users": [], "actors": [], "days": []}
    days = totals.get("days") or []
    chart = plots.bar_chart([(d["day"], d.get("cpu_hours") or 0) for d in days], "CPU-hours per day", "CPU-hours")
    query = urlencode({k: v for k, v in request.GET.items() if k in ("since", "until")})
    return render(request, "dashboard/admin_accounting.html", {
        "form": form, "totals": totals, "chart": chart, "query": query})


@admin_only
def admin_accounting_export(request):
    kind = request.GET.get("format", "csv")
    params = _range_params(RangeForm(request.GET))
    resp = request.api.request("GET", "/accounting/export", params={"format": kind, **params})
    if resp.status_code != 200:
        return _redirect_notice(request, "/admin/accounting", message_of(resp))
    out = HttpResponse(resp.content, content_type=resp.headers.get("Content-Type", "text/plain"))
    out["Content-Disposition"] = resp.headers.get("Content-Disposition", "attachment")
    return out


def server_error(request):
    return render(request, "dashboard/error.html", {}, status=500)


def bad_request(request, exception=None):
    return render(request, "dashboard/error.html", {"detail": "The request was malformed or too large."}, status=400)


def csrf_failure(request, reason: str = ""):
    return render(request, "dashboard/error.html", {
        "detail": "The form was refused: its security token is missing or stale. Reload the page and try again."},
        status=403)


def not_found(request, exception=None):
    return render(request, "dashboard/error.html", {"detail": "No such page."}, status=404)
