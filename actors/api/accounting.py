"""/accounting: totals of what finished executions used, per user and per actor.

``GET /accounting?user=&actor=&since=&until=``: a user sees their own executions only
(asking for another user is a 403); an admin sees everyone's, or one user's. ``since``
and ``until`` (ISO 8601, a date alone allowed, or epoch seconds) bound the end time.
``days`` in the answer gives CPU-hours per UTC day. ``GET /accounting/export?format=csv|sge``
returns the same records as a CSV file or accounting(5) lines.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from actors import accounting_files, times
from actors.accounting_index import AccountingIndex
from actors.api.common import identity, ok, services, show
from actors.errors import BadRequestError, ForbiddenError
from actors.usage import by_day, owner_group, summarise

bp = Blueprint("accounting", __name__)


def parse_moment(name: str) -> float | None:
    """Epoch seconds of the ``name`` query parameter, or None when absent."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return times.moment(raw)
    except ValueError:
        raise BadRequestError(f"'{name}' must be an ISO 8601 time (e.g. 2026-11-24 or "
                              f"2026-11-24T10:00:00Z) or epoch seconds; got {raw!r}") from None


def _index() -> AccountingIndex:
    """This API process's index of the accounting records (actors/accounting_index.py)."""
    extensions = current_app.extensions
    if "accounting_index" not in extensions:
        extensions["accounting_index"] = AccountingIndex(services().stores.accounting)
    return extensions["accounting_index"]


def _chosen() -> list[dict]:
    """The figures of the records the query asks for, among those the caller may see."""
    who = identity()
    store = services().stores.accounting
    user = request.args.get("user", "").strip() or None
    actor_id = request.args.get("actor", "").strip() or None
    since, until = parse_moment("since"), parse_moment("until")
    if since is not None and until is not None and since > until:
        raise BadRequestError("'since' is after 'until'")
    if not who.is_admin:
        if user not in (None, who.user):
            raise ForbiddenError(f"only an admin may see the accounting of user {user!r}")
        user = who.user
    keys = store.group(owner_group({"tenant": who.tenant, "owner": user})) if user is not None else store.keys()
    return _index().chosen(keys, lambda r: r["tenant"] == who.tenant
                           and (actor_id is None or r["actor_id"] == actor_id)
                           and (since is None or r["end"] >= since)
                           and (until is None or r["end"] <= until))


@bp.get("/accounting")
def totals():
    chosen = _chosen()
    summary = summarise(chosen)
    user = request.args.get("user", "").strip() or (None if identity().is_admin else identity().user)
    result = show({
        "user": user, "actor": request.args.get("actor", "").strip() or None,
        "since": request.args.get("since") or None, "until": request.args.get("until") or None,
        "total": show(summary["total"]),
        "users": [show(u) for u in summary["users"]],
        "actors": [show(a) for a in summary["actors"]],
        "days": [show(d) for d in by_day(chosen, lambda r: r["day"])],
    })
    return ok(result, f"Accounting totals over {len(chosen)} execution(s).")


EXPORTS = {"csv": "text/csv", "sge": "text/plain"}


@bp.get("/accounting/export")
def export():
    """The chosen records as a file: ``format=csv`` (with a header) or ``format=sge``
    (accounting(5) lines, as in <data_dir>/accounting/accounting); same filters as /accounting."""
    kind = request.args.get("format", "csv").strip().lower()
    if kind not in EXPORTS:
        raise BadRequestError(f"'format' must be one of {', '.join(EXPORTS)}; got {kind!r}")
    chosen = sorted(_chosen(), key=lambda r: r["end"])
    store = services().stores.accounting
    chosen = [doc for start in range(0, len(chosen), 1000)
              for doc in store.get_many([r["key"] for r in chosen[start:start + 1000]]) if doc is not None]
    if kind == "csv":
        body = accounting_files.csv_header() + "".join(accounting_files.csv_line(r) for r in chosen)
    else:
        qname = services().config.general.instance
        body = "".join(accounting_files.sge_line(r, qname) for r in chosen)
    return Response(body, mimetype=EXPORTS[kind], headers={
        "Content-Disposition": f'attachment; filename="accounting.{"csv" if kind == "csv" else "sge"}"'})
