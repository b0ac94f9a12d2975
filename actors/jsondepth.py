"""How deeply a JSON text nests, measured before it is parsed.

Python's json module parses and writes nested arrays and objects by recursion, so a
body nested a few thousand levels deep raises RecursionError (a 500) in the parser, and
a stored document nested almost that deep breaks whoever later writes it out again.
Every JSON the API accepts (request bodies, JSON messages, actor state) is measured
here first and refused with a 400 past ``[web] max_json_depth``.
"""

from __future__ import annotations

import re
from itertools import accumulate

from actors.errors import BadRequestError

# A JSON string literal (escapes included): brackets inside it are not structure.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# Keep only brackets: an opening one becomes 1, a closing one 2.
_ONLY_BRACKETS = bytes.maketrans(b"[{]}", b"\x01\x01\x02\x02")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {1: 1, 2: -1}


def depth(raw: bytes | str) -> int:
    """The deepest nesting of arrays and objects in a JSON text (0 for a scalar), without recursion.

    Exact for valid JSON; for invalid JSON it is some number, and the parser refuses the text anyway.
    """
    data = raw.encode("utf-8", errors="surrogatepass") if isinstance(raw, str) else bytes(raw)
    brackets = _STRING.sub(b"", data).translate(_ONLY_BRACKETS, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def check(raw: bytes | str, limit: int, what: str) -> None:
    """400 when ``what`` (a JSON text) nests deeper than ``limit`` levels; 0 means no limit."""
    if limit <= 0:
        return
    found = depth(raw)
    if found > limit:
        raise BadRequestError(f"{what} is nested {found} levels deep; the limit is {limit} "
                              f"([web] max_json_depth)")
