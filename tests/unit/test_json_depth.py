"""JSON depth is measured on the text, before parsing: exact for valid JSON, at any depth, at once."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import jsondepth
from actors.errors import BadRequestError


def reference_depth(value) -> int:
    """The nesting of a parsed value, the obvious (recursive) way."""
    if isinstance(value, dict):
        return 1 + max((reference_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((reference_depth(v) for v in value), default=0)
    return 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) |
    st.text(alphabet='ab[]{}"\\\n\u00e9', max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='k[]{}"\\', max_size=3),
                                                                 inner, max_size=3),
    max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(json_values, st.booleans())
def test_depth_is_the_nesting_of_the_parsed_value(value, ascii_only):
    # Brackets, quotes and backslashes inside strings and keys are not structure.
    text = json.dumps(value, ensure_ascii=ascii_only, indent=None if ascii_only else 1)
    assert jsondepth.depth(text) == reference_depth(value)
    assert jsondepth.depth(text.encode()) == reference_depth(value)


def test_examples():
    assert jsondepth.depth(b"17") == 0
    assert jsondepth.depth(b'"[[[{{{"') == 0
    assert jsondepth.depth(b'{"a": [1, {"b": 2}]}') == 3
    assert jsondepth.depth(b'["\\"]]", [[]]]') == 3


def test_the_limit_is_a_400_naming_it_and_the_limit_itself_passes():
    at_limit = "[" * 64 + "]" * 64
    jsondepth.check(at_limit, 64, "the state")
    with pytest.raises(BadRequestError, match=r"the state is nested 65 levels deep; the limit is 64 "
                                              r"\(\[web\] max_json_depth\)"):
        jsondepth.check("[" + at_limit + "]", 64, "the state")
    jsondepth.check("[" * 1000 + "]" * 1000, 0, "anything")       # 0: no cap


def test_a_million_levels_are_measured_without_recursion():
    # json.loads would raise RecursionError here; the measure does not parse.
    deep = b"[" * 1_000_000 + b"]" * 1_000_000
    assert jsondepth.depth(deep) == 1_000_000
    with pytest.raises(BadRequestError, match="1000000 levels"):
        jsondepth.check(deep, 64, "the request body")
