"""Time of a pathological ``like`` pattern against a plain substring, in one run.

``a*a*a*a*a*b`` over a field of a's is the worst case for a backtracking matcher (the
regular expression search.py used before needed seconds for 160 characters, growing
like a power of the length); the matcher now finds each piece once with str.find, so
both lines below should be of the same order. ``--old N`` also times the old regular
expression once, on a field of N characters (keep N small: 160 takes tens of seconds).

    .venv/bin/python bench/search_like.py [--size 4096] [--runs 200] [--old 80]
"""

from __future__ import annotations

import argparse
import re
import time

from actors import search


def best_of(runs: int, test, value) -> float:
    """The fastest of ``runs`` calls, in seconds."""
    best = float("inf")
    for _ in range(runs):
        began = time.perf_counter()
        test(value)
        best = min(best, time.perf_counter() - began)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=4096, help="characters in the field")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--old", type=int, metavar="N", help="also time the old regular expression on N characters")
    args = parser.parse_args()

    field = "a" * args.size
    pathological = search._like_matcher("description.like", "a*a*a*a*a*b")
    baseline = search._like_matcher("description.like", "b")
    assert not pathological(field) and not baseline(field)
    slow = best_of(args.runs, pathological, field)
    plain = best_of(args.runs, baseline, field)
    print(f"field of {args.size} characters, best of {args.runs} runs")
    print(f"  like a*a*a*a*a*b   {slow * 1e6:10.1f} us")
    print(f"  like b (substring) {plain * 1e6:10.1f} us")
    print(f"  ratio              {slow / plain:10.1f}")
    if args.old:
        regex = re.compile(".*".join(re.escape(p) for p in "a*a*a*a*a*b".split("*")))
        began = time.perf_counter()
        regex.search("a" * args.old)
        print(f"  old regex, {args.old} characters: {time.perf_counter() - began:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
