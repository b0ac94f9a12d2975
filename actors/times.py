"""Times as the platform stores and shows them: UTC, ISO 8601, with a ``Z``.

Every record stores times as ``now()`` writes them (microseconds); this module is the
one place that writes, reads and converts them, so a time read anywhere means the same.
"""

from __future__ import annotations

from datetime import datetime, timezone


def now() -> str:
    """The current UTC time in ISO 8601 with microseconds, as stored everywhere."""
    return iso(datetime.now(timezone.utc), "microseconds")


def iso(moment: datetime, timespec: str = "seconds") -> str:
    """``moment`` in UTC as ISO 8601 with a ``Z`` (a naive moment is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec=timespec).replace("+00:00", "Z")


def parse(value: str) -> datetime:
    """An ISO 8601 time (``Z`` or an offset; none means UTC); ValueError when it is not one."""
    moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def epoch(value, default: float = 0.0) -> float:
    """Seconds since the epoch of an ISO 8601 time or a number; ``default`` when there is none."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return parse(value).timestamp() if value else default
    except (TypeError, ValueError):
        return default


def moment(text: str) -> float:
    """Seconds since the epoch from epoch seconds or an ISO 8601 time (a date alone allowed).

    ValueError when it is neither: what a caller may type for ``since`` and ``until``.
    """
    try:
        return float(text)
    except ValueError:
        return parse(text).timestamp()


def docker_time(value: str | None) -> float | None:
    """Seconds since the epoch from Docker's RFC 3339 nanosecond timestamps (None for "never")."""
    if not value or value.startswith("0001-"):
        return None
    head, _, frac = value.rstrip("Z").partition(".")
    return parse(head).timestamp() + (float("0." + frac[:9]) if frac else 0.0)
