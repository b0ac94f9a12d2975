"""Search stays fast and answers 400, never 500, whatever the query or the document.

Each attack is next to the legitimate use it must not break.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import search
from actors.errors import BadRequestError


def _old_like(value, pattern: str) -> bool:
    """The regular-expression matcher this module used before (exponential on a*a*a*...b)."""
    regex = ".*".join(re.escape(part) for part in re.split(r"[*%]", pattern.lower()))
    return value is not None and re.search(regex, str(value).lower()) is not None


def hits(docs, **args) -> list:
    return [d.get("name") for d in search.run(docs, args)["search"]]


def like(pattern: str):
    return search._like_matcher("field.like", pattern)


# ------------------------------------------------------------------ like / nlike

@settings(max_examples=400, deadline=None)
@given(value=st.text(alphabet="abAB*%-", max_size=12) | st.integers() | st.booleans() | st.none(),
       pattern=st.text(alphabet="abAB*%-", max_size=6))
def test_like_means_what_it_meant(value, pattern):
    assert like(pattern)(value) == _old_like(value, pattern)


def test_like_examples():
    docs = [{"name": "search-one"}, {"name": "search-two"}, {"name": "Other"}, {"name": None}]
    assert hits(docs, **{"name.like": "search-*"}) == ["search-one", "search-two"]
    assert hits(docs, **{"name.like": "EARCH"}) == ["search-one", "search-two"]   # no wildcard: a substring
    assert hits(docs, **{"name.like": "s%r*o"}) == ["search-one", "search-two"]
    assert hits(docs, **{"name.nlike": "%one"}) == ["search-two", "Other", None]
    assert hits(docs, **{"name.like": "*"}) == ["search-one", "search-two", "Other"]


def test_the_pathological_pattern_is_answered_at_once_over_a_4kb_field():
    # The old matcher backtracked through every way to place the a's: about n^5 steps here.
    # Only correctness is asserted; bench/search_like.py shows the time.
    field = "a" * 4096
    docs = [{"name": "plain", "description": field}, {"name": "ends-in-b", "description": field + "b"}]
    began = time.perf_counter()
    assert hits(docs, **{"description.like": "a*a*a*a*a*b"}) == ["ends-in-b"]
    print(f"a*a*a*a*a*b over 4 KiB: {time.perf_counter() - began:.6f} s")
    assert hits(docs, **{"description.nlike": "a*a*a*a*a*b"}) == ["plain"]
    assert hits(docs, **{"description.like": "a*a*a*a*a*a"}) == ["plain", "ends-in-b"]


def test_pattern_length_and_wildcard_caps_are_400s_naming_the_parameter():
    fine = "x" * search.SEARCH_MAX_PATTERN
    assert hits([{"name": fine}], **{"name.like": fine}) == [fine]
    with pytest.raises(BadRequestError, match=r"'name.like'.*257 characters.*at most 256"):
        search.run([], {"name.like": fine + "x"})
    sixteen = "*".join("abcdefghijklmnopq")
    assert hits([{"name": "abcdefghijklmnopq"}], **{"name.like": sixteen}) == ["abcdefghijklmnopq"]
    with pytest.raises(BadRequestError, match=r"'name.nlike'.*17 wildcards.*at most 16"):
        search.run([], {"name.nlike": sixteen + "%"})


def test_only_the_first_SEARCH_MAX_FIELD_characters_are_compared():
    field = "x" * search.SEARCH_MAX_FIELD
    docs = [{"name": "early", "text": "needle" + field}, {"name": "late", "text": field + "needle"}]
    assert hits(docs, **{"text.like": "needle"}) == ["early"]


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("args, part", [
    ({"name.in": "not-a-list"}, "'name.in'"),
    ({"name.nin": "{\"a\": 1}"}, "'name.nin'"),
    ({"name.in": "[" * 100_000}, "'name.in'"),               # json.loads would hit the recursion limit
    ({"start_time.between": "2026"}, "'start_time.between'"),
    ({"skip": "-1"}, "'skip'"),
    ({"skip": "\u00b2"}, "'skip'"),                          # a digit to str.isdigit, not to int()
    ({"limit": "9" * 5000}, "'limit'"),                      # too long for int() to read
    ({"limit": "0"}, "'limit'"),
    ({"limit": "1.5"}, "'limit'"),
    ({"name.equals": "x"}, "'equals'"),
])
def test_bad_queries_are_400s(args, part):
    docs = [{"name": "a", "start_time": "2026-01-01T00:00:00Z"}]
    with pytest.raises(BadRequestError) as caught:
        search.run(docs, args)
    assert part in caught.value.message


def test_good_queries_next_to_them():
    docs = [{"name": "a", "n": 5, "start_time": "2026-01-01T00:00:00Z"}, {"name": "b", "n": 50}]
    assert hits(docs, **{"name.in": "[\"b\", \"c\"]"}) == ["b"]
    assert hits(docs, **{"start_time.between": "2025,2026-02"}) == ["a"]
    assert hits(docs, **{"n.between": "1,10"}) == ["a"]
    assert search.run(docs, {"skip": "1", "limit": "100000"})["_metadata"]["records_skipped"] == 1


def test_numbers_too_big_for_a_float_compare_as_text():
    docs = [{"name": "huge", "n": 10 ** 400}, {"name": "small", "n": 3}]
    assert hits(docs, **{"n.gte": "1"}) == ["huge", "small"]     # float(10**400) overflows: text "1000..."
    assert hits(docs, **{"n.between": "1,5"}) == ["huge", "small"]   # "1" <= "1000..." <= "5" as text


# ------------------------------------------------------------------ deep documents

def nested(depth: int, leaf) -> dict:
    doc = leaf
    for i in range(depth):
        doc = {"k": doc} if i % 2 else [doc]
    return {"name": "deep", "state": doc}


@pytest.mark.parametrize("depth", [950, 5000])
def test_a_deeply_nested_document_is_searched_not_a_500(depth):
    docs = [nested(depth, "kumquat"), {"name": "flat", "state": {"fruit": "papaya"}}]
    assert hits(docs, search="KUMQUAT") == ["deep"]
    assert hits(docs, search="papaya") == ["flat"]
    assert hits(docs, exactsearch="kumquat") == ["deep"]
    assert hits(docs, exactsearch="papaya") == ["flat"]
    assert hits(docs, **{"state.like": "kum*quat"}) == ["deep"]
    assert hits(docs, **{"state.eq": "nothing"}) == []
    assert hits(docs, **{"state.in": "[\"x\"]"}) == []
    assert hits(docs, **{"state.neq": "nothing"}) == ["deep", "flat"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_the_iterative_writers_write_what_json_dumps_and_str_write(value):
    # (str of a container writes the scalars in it with repr; _text uses str() for scalars.)
    assert search._render(value, search._json_scalar, search._json_key) == json.dumps(value, default=str)
    assert search._render([value], repr, repr) == str([value])


DOCS = [{"name": "a", "n": 5, "big": 10 ** 400, "t": "2026-01-01T00:00:00Z", "ok": True, "none": None,
         "state": {"k": [1, "x", {"deep": nested(1200, "leaf")}]}}, {"name": "b", "n": -1.5e308}]
fields = st.sampled_from(["name", "n", "big", "t", "ok", "none", "state", "state.k", "missing", "x.y"])
operators = st.sampled_from(["", *(f".{op}" for op in search.OPERATORS), ".bogus"])
values = st.text(max_size=20) | st.sampled_from(["[1, \"a\"]", "[", "1,5", "2026-01,2027", "*%*", "9" * 400,
                                                  "nan", "inf", "-1e999", "2026-13", "null", "true"])


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.builds(str.__add__, fields, operators) | st.sampled_from(["skip", "limit", "search",
                                                                                   "exactsearch"]),
                       values, max_size=4))
def test_any_query_is_answered_or_a_400(args):
    try:
        search.run(DOCS, args)
    except BadRequestError:
        pass
