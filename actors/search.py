"""Search over actors, executions, workers and logs with Abaco's query language.

Query parameters: ``search`` (full text, case-insensitive, anywhere in the document),
``exactsearch`` (some field's value is exactly this), ``skip`` and ``limit``, and field
filters ``field=value`` or ``field.op=value`` with op one of eq, neq, in, nin, like,
nlike, gt, gte, lt, lte, between. Dotted fields reach into nested documents
(``final_state.StartedAt``). ``in``/``nin`` take a JSON list; ``between`` takes
``low,high``; ``like`` matches a substring (``*`` and ``%`` are wildcards). Times compare
as times, partial ISO dates included (``2026-11`` is the start of November 2026).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

from actors.errors import BadRequestError

OPERATORS = ("eq", "neq", "in", "nin", "like", "nlike", "gt", "gte", "lt", "lte", "between")
RESERVED = {"search", "exactsearch", "skip", "limit", "x-nonce"}
_PARTIAL = re.compile(r"^\d{4}(-\d{2}(-\d{2}([T ]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?)?)?(Z|[+-]\d{2}:\d{2})?$")


def _time(value) -> datetime | None:
    if not isinstance(value, str) or not _PARTIAL.match(value.strip()):
        return None
    text = value.strip().replace("Z", "+00:00").replace(" ", "T")
    for fmt_len, pad in ((4, "-01-01"), (7, "-01")):
        if len(text) == fmt_len:
            text += pad
    if len(text) == 13:
        text += ":00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _comparable(left, right):
    """The pair as times, or numbers, or strings, so they compare sensibly."""
    lt, rt = _time(left), _time(right)
    if lt is not None and rt is not None:
        return lt, rt
    try:
        if not isinstance(left, bool):
            return float(left), float(right)
    except (TypeError, ValueError):
        pass
    return str(left), str(right)


def _get(doc: dict, path: str):
    value = doc
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _equal(value, wanted: str) -> bool:
    if isinstance(value, bool):
        return str(value).lower() == wanted.lower()
    if value is None:
        return wanted in ("", "null", "None")
    a, b = _comparable(value, wanted)
    return a == b


def _like(value, pattern: str) -> bool:
    regex = ".*".join(re.escape(part) for part in re.split(r"[*%]", pattern.lower()))
    return value is not None and re.search(regex, str(value).lower()) is not None


def _json_list(name: str, raw: str) -> list:
    try:
        values = json.loads(raw)
    except ValueError:
        values = None
    if not isinstance(values, list):
        raise BadRequestError(f"'{name}' takes a JSON list, e.g. [\"READY\",\"ERROR\"]; got {raw!r}")
    return [str(v) for v in values]


def _filter(name: str, path: str, op: str, raw: str):
    if op in ("in", "nin"):
        values = _json_list(name, raw)
        def test(v) -> bool:
            return any(_equal(v, w) for w in values)
        return test if op == "in" else (lambda v: v is not None and not test(v))
    if op == "between":
        low, sep, high = raw.partition(",")
        if not sep:
            raise BadRequestError(f"'{name}' takes 'low,high'; got {raw!r}")
        return lambda v: v is not None and _comparable(v, low)[0] >= _comparable(v, low)[1] \
            and _comparable(v, high)[0] <= _comparable(v, high)[1]
    if op == "eq":
        return lambda v: _equal(v, raw)
    if op == "neq":
        return lambda v: not _equal(v, raw)
    if op == "like":
        return lambda v: _like(v, raw)
    if op == "nlike":
        return lambda v: not _like(v, raw)
    compare = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
               "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}[op]

    def ordered(v):
        if v is None:
            return False
        a, b = _comparable(v, raw)
        try:
            return compare(a, b)
        except TypeError:
            return False
    return ordered


def parse(args) -> tuple[list, str | None, str | None, int, int]:
    """(field filters, search, exactsearch, skip, limit) from the query parameters."""
    filters = []
    for name in args:
        if name in RESERVED or name.startswith("_"):
            continue
        path, op = name, "eq"
        head, _, tail = name.rpartition(".")
        if head and tail in OPERATORS:
            path, op = head, tail
        filters.append((name, path, _filter(name, path, op, args.get(name))))
    skip, limit = _number(args, "skip", 0), _number(args, "limit", 100)
    return filters, args.get("search"), args.get("exactsearch"), skip, limit


def _number(args, name: str, default: int) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or (name == "limit" and int(raw) < 1) or int(raw) > 100000:
        raise BadRequestError(f"'{name}' must be a whole number{' of at least 1' if name == 'limit' else ''}; got {raw!r}")
    return int(raw)


def _values(doc) -> list:
    if isinstance(doc, dict):
        return [v for value in doc.values() for v in _values(value)]
    if isinstance(doc, list):
        return [v for value in doc for v in _values(value)]
    return [doc]


def _check_paths(docs: list[dict], filters: list) -> None:
    """A dotted name must reach into a nested document; else its last part is a bad operator."""
    for name, path, _ in filters:
        head, _, tail = path.rpartition(".")
        if head and not any(isinstance(_get(doc, head), dict) for doc in docs) and docs:
            raise BadRequestError(f"unknown operator {tail!r} in {name!r}; use one of {', '.join(OPERATORS)}")


def run(docs: list[dict], args) -> dict:
    filters, text, exact, skip, limit = parse(args)
    _check_paths(docs, filters)
    hits = []
    for doc in docs:
        if text and text.lower() not in json.dumps(doc, default=str).lower():
            continue
        if exact is not None and not any(str(v) == exact for v in _values(doc)):
            continue
        if all(test(_get(doc, path)) for _, path, test in filters):
            hits.append(doc)
    page = hits[skip:skip + limit]
    return {"search": page, "_metadata": {"count_returned": len(page), "record_limit": limit,
                                          "records_skipped": skip, "total_count": len(hits)}}
