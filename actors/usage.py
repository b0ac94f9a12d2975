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


def _rounded(total: dict) -> dict:
    return {**total, "cpu_seconds": round(total["cpu_seconds"], 6),
            "runtime_seconds": round(total["runtime_seconds"], 6)}


def summarise(records) -> dict:
    """Totals over ``records``: overall, per user (owner) and per actor.

    One pass adds each record to its (actor, owner) total only; users' totals and the
    overall one are then added up from those few, so 10,000 records cost one short loop.
    """
    per_actor: dict[tuple, list] = {}
    for record in records:
        owner = record.get("owner") or ""
        key = (record.get("actor_id"), owner)
        t = per_actor.get(key)
        if t is None:
            t = per_actor[key] = [0, 0, 0, 0.0, 0, 0]   # executions, complete, cpu_ns, runtime, memory_peak, io
        t[0] += 1
        if record.get("status") == "COMPLETE":
            t[1] += 1
        t[2] += record.get("cpu_ns") or 0
        t[3] += float(record.get("runtime") or 0)
        peak = int(record.get("memory_peak") or 0)
        if peak > t[4]:
            t[4] = peak
        t[5] += int(record.get("io_bytes") or 0)
    overall = _empty()
    users: dict[str, dict] = {}
    actors: dict[tuple, dict] = {}
    for key, t in per_actor.items():
        total = {"executions": t[0], "complete": t[1], "error": t[0] - t[1], "cpu_seconds": t[2] / 1e9,
                 "runtime_seconds": t[3], "memory_peak_max": t[4], "io_bytes": t[5]}
        actors[key] = total
        _merge(overall, total)
        _merge(users.setdefault(key[1], _empty()), total)
    return {
        "total": _rounded(overall),
        "users": [{"user": user, **_rounded(t)} for user, t in sorted(users.items())],
        "actors": [{"actor_id": actor_id, "owner": owner, **_rounded(t)}
                   for (actor_id, owner), t in sorted(actors.items(), key=lambda kv: (str(kv[0][0]), kv[0][1]))],
    }


def _merge(into: dict, total: dict) -> None:
    for name in ("executions", "complete", "error", "cpu_seconds", "runtime_seconds", "io_bytes"):
        into[name] += total[name]
    into["memory_peak_max"] = max(into["memory_peak_max"], total["memory_peak_max"])


def by_day(records, day_of) -> list[dict]:
    """CPU-hours, run hours and executions per UTC day (``day_of(record)``, e.g. "2026-11-25"),
    oldest day first; days without executions are left out."""
    days: dict[str, dict] = {}
    for record in records:
        day = day_of(record)
        total = days.setdefault(day, {"day": day, "executions": 0, "cpu_hours": 0.0, "runtime_hours": 0.0})
        total["executions"] += 1
        total["cpu_hours"] += (record.get("cpu_ns") or 0) / 1e9 / 3600
        total["runtime_hours"] += float(record.get("runtime") or 0) / 3600
    return [{**t, "cpu_hours": round(t["cpu_hours"], 6), "runtime_hours": round(t["runtime_hours"], 6)}
            for _, t in sorted(days.items())]


def utc_day(epoch_seconds: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch_seconds))
