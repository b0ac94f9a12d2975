"""Totals of what finished executions used, over accounting records: overall, per user, per actor, per day.

Records are kept by the accounting process (one per execution, grouped by tenant and
owner: ``owner_group``); ``GET /accounting`` sums the ones a caller may see.
"""

from __future__ import annotations

import time


def owner_group(record: dict) -> str:
    return f"{record.get('tenant') or 'default'}/{record.get('owner') or ''}"


def _empty() -> dict:
    return {"executions": 0, "complete": 0, "error": 0, "cpu_seconds": 0.0, "runtime_seconds": 0.0,
            "memory_peak_max": 0, "io_bytes": 0}


def _add(total: dict, record: dict) -> None:
    total["executions"] += 1
    if record.get("status") == "COMPLETE":
        total["complete"] += 1
    else:
        total["error"] += 1
    total["cpu_seconds"] += (record.get("cpu_ns") or 0) / 1e9
    total["runtime_seconds"] += float(record.get("runtime") or 0)
    total["memory_peak_max"] = max(total["memory_peak_max"], int(record.get("memory_peak") or 0))
    total["io_bytes"] += int(record.get("io_bytes") or 0)


def _rounded(total: dict) -> dict:
    return {**total, "cpu_seconds": round(total["cpu_seconds"], 6),
            "runtime_seconds": round(total["runtime_seconds"], 6)}


def summarise(records) -> dict:
    """Totals over ``records``: overall, per user (owner) and per actor."""
    overall = _empty()
    users: dict[str, dict] = {}
    actors: dict[tuple, dict] = {}
    for record in records:
        _add(overall, record)
        _add(users.setdefault(record.get("owner") or "", _empty()), record)
        actor_key = (record.get("actor_id"), record.get("owner") or "")
        _add(actors.setdefault(actor_key, _empty()), record)
    return {
        "total": _rounded(overall),
        "users": [{"user": user, **_rounded(t)} for user, t in sorted(users.items())],
        "actors": [{"actor_id": actor_id, "owner": owner, **_rounded(t)}
                   for (actor_id, owner), t in sorted(actors.items())],
    }


def by_day(records, end_of) -> list[dict]:
    """CPU-hours, run hours and executions per UTC day (of each record's end, ``end_of(record)``
    in epoch seconds), oldest day first; days without executions are left out."""
    days: dict[str, dict] = {}
    for record in records:
        day = time.strftime("%Y-%m-%d", time.gmtime(end_of(record)))
        total = days.setdefault(day, {"day": day, "executions": 0, "cpu_hours": 0.0, "runtime_hours": 0.0})
        total["executions"] += 1
        total["cpu_hours"] += (record.get("cpu_ns") or 0) / 1e9 / 3600
        total["runtime_hours"] += float(record.get("runtime") or 0) / 3600
    return [{**t, "cpu_hours": round(t["cpu_hours"], 6), "runtime_hours": round(t["runtime_hours"], 6)}
            for _, t in sorted(days.items())]
