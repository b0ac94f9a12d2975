"""Template filters that show the API's raw figures in units people read."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def size(value) -> str:
    """Bytes as B, KiB, MiB or GiB."""
    if value in (None, ""):
        return "-"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GiB"


@register.filter
def cpu(value) -> str:
    """CPU nanoseconds as seconds."""
    if value in (None, ""):
        return "-"
    return f"{float(value) / 1e9:.3f} s"


@register.filter
def secs(value) -> str:
    if value in (None, ""):
        return "-"
    return f"{float(value):.2f} s"


@register.filter
def get(mapping, key):
    return (mapping or {}).get(key)


@register.filter
def as_json(value) -> str:
    """A value as JSON text (the template escapes it)."""
    import json
    return json.dumps(value)
