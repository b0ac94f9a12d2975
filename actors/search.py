"""Search over actors, executions, workers and logs with Abaco's query language.

Query parameters: ``search`` (full text, case-insensitive, anywhere in the document),
``exactsearch`` (some field's value is exactly this), ``skip`` and ``limit``, and field
filters ``field=value`` or ``field.op=value`` with op one of eq, neq, in, nin, like,
nlike, gt, gte, lt, lte, between. Dotted fields reach into nested documents
(``final_state.StartedAt``). ``in``/``nin`` take a JSON list; ``between`` takes
``low,high``; ``like`` matches a substring (``*`` and ``%`` are wildcards). Times compare
as times, partial ISO dates included (``2026-11`` is the start of November 2026).

Guarantees against hostile queries and documents:

- ``like``/``nlike`` run in time linear in the field's length, whatever the pattern: the
  pattern is split on its wildcards and each literal piece is found left to right with
  ``str.find`` (no regular expression, no backtracking). A pattern may have at most
  ``SEARCH_MAX_PATTERN`` characters and ``SEARCH_MAX_WILDCARDS`` wildcards, and only the
  first ``SEARCH_MAX_FIELD`` characters of a field are compared.
- Every bad query is a 400 naming the bad parameter, never a 500.
- The walks over documents (full text, exactsearch, a field compared as text) are
  iterative, so a document nested thousands of levels deep (an actor's state, say) is
  searched like any other and never raises RecursionError.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

from actors.errors import BadRequestError

OPERATORS = ("eq", "neq", "in", "nin", "like", "nlike", "gt", "gte", "lt", "lte", "between")
RESERVED = {"search", "exactsearch", "skip", "limit", "x-nonce"}
SEARCH_MAX_PATTERN = 256         # characters of a like/nlike pattern
SEARCH_MAX_WILDCARDS = 16        # '*' and '%' in one like/nlike pattern
SEARCH_MAX_FIELD = 64 * 1024     # characters of a field value that like/nlike look at
WILDCARDS = re.compile(r"[*%]")
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
    except (TypeError, ValueError, OverflowError):
        pass
    return _text(left), str(right)


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


def _like_matcher(name: str, pattern: str):
    """A test "value contains the pattern's pieces in order" (case-insensitive), linear time.

    ``a*b%c`` matches any text holding ``a``, later ``b``, later ``c``; a pattern without
    wildcards matches as a substring. Finding each piece at its leftmost place after the
    previous one is enough: if any placement works, the leftmost one does too.
    """
    if len(pattern) > SEARCH_MAX_PATTERN:
        raise BadRequestError(f"'{name}': the pattern has {len(pattern)} characters; "
                              f"at most {SEARCH_MAX_PATTERN} are allowed")
    wildcards = len(WILDCARDS.findall(pattern))
    if wildcards > SEARCH_MAX_WILDCARDS:
        raise BadRequestError(f"'{name}': the pattern has {wildcards} wildcards (* or %); "
                              f"at most {SEARCH_MAX_WILDCARDS} are allowed")
    pieces = [piece for piece in WILDCARDS.split(pattern.lower()) if piece]

    def like(value) -> bool:
        if value is None:
            return False
        text = _text(value)[:SEARCH_MAX_FIELD].lower()
        at = 0
        for piece in pieces:
            found = text.find(piece, at)
            if found < 0:
                return False
            at = found + len(piece)
        return True
    return like


def _json_list(name: str, raw: str) -> list:
    try:
        values = json.loads(raw)
    except (ValueError, RecursionError):
        values = None
    if not isinstance(values, list):
        raise BadRequestError(f"'{name}' takes a JSON list, e.g. [\"READY\",\"ERROR\"]; got {raw!r}")
    return [_text(v) for v in values]


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

        def between(v) -> bool:
            if v is None:
                return False
            (value, lowest), (same, highest) = _comparable(v, low), _comparable(v, high)
            try:
                return lowest <= value and same <= highest
            except TypeError:
                return False
        return between
    if op == "eq":
        return lambda v: _equal(v, raw)
    if op == "neq":
        return lambda v: not _equal(v, raw)
    if op in ("like", "nlike"):
        like = _like_matcher(name, raw)
        return like if op == "like" else (lambda v: not like(v))
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
    digits = raw.isascii() and raw.isdigit() and len(raw) <= 6      # int() of ASCII digits only
    if not digits or (name == "limit" and int(raw) < 1) or int(raw) > 100000:
        raise BadRequestError(f"'{name}' must be a whole number{' of at least 1' if name == 'limit' else ''}; got {raw!r}")
    return int(raw)


def _values(doc) -> list:
    """Every scalar in a document, depth first, without recursion."""
    out, stack = [], [doc]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(reversed(list(value.values())))
        elif isinstance(value, list):
            stack.extend(reversed(value))
        else:
            out.append(value)
    return out


def _render(value, scalar, key) -> str:
    """A JSON-like value (dicts, lists, scalars) written out without recursion.

    ``json.dumps`` and ``str`` write dicts and lists in the same shape (``{k: v, ...}``,
    ``[a, b]``, separators ``", "`` and ``": "``); ``scalar`` writes any other value and
    ``key`` a dict key in the format wanted.
    """
    parts: list[str] = []
    stack: list = [value]           # values still to write, and _Literal text between them
    while stack:
        item = stack.pop()
        if isinstance(item, _Literal):
            parts.append(item)
        elif isinstance(item, dict):
            todo: list = [_Literal("{")]
            for i, (k, v) in enumerate(item.items()):
                todo += [_Literal((", " if i else "") + key(k) + ": "), v]
            stack.extend(reversed(todo + [_Literal("}")]))
        elif isinstance(item, list):
            todo = [_Literal("[")]
            for i, v in enumerate(item):
                todo += [_Literal(", " if i else ""), v]
            stack.extend(reversed(todo + [_Literal("]")]))
        else:
            parts.append(scalar(item))
    return "".join(parts)


class _Literal(str):
    """Text that _render writes as it is (told apart from string values still to write)."""


def _json_scalar(value) -> str:
    if isinstance(value, (str, int, float)) or value is None:     # bool is an int
        return json.dumps(value)
    return json.dumps(str(value))                                  # as default=str does


def _json_key(key) -> str:
    """A dict key as json.dumps writes it: always a string ("1", "true", "null")."""
    return json.dumps(key if isinstance(key, str) else _json_scalar(key))


def json_text(doc) -> str:
    """``json.dumps(doc, default=str)``; done iteratively when the document is too deep for it."""
    try:
        return json.dumps(doc, default=str)
    except RecursionError:
        return _render(doc, _json_scalar, _json_key)


def _text(value) -> str:
    """``str(value)``; done iteratively when a container is too deep for it."""
    if not isinstance(value, (dict, list)):
        return str(value)
    try:
        return str(value)
    except RecursionError:
        return _render(value, repr, repr)


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
        if text and text.lower() not in json_text(doc).lower():
            continue
        if exact is not None and not any(str(v) == exact for v in _values(doc)):
            continue
        if all(test(_get(doc, path)) for _, path, test in filters):
            hits.append(doc)
    page = hits[skip:skip + limit]
    return {"search": page, "_metadata": {"count_returned": len(page), "record_limit": limit,
                                          "records_skipped": skip, "total_count": len(hits)}}
