"""Cron next times are computed, not stepped to; far-past starts and huge increments are 400s.

Each refused schedule is next to one that is accepted.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from actors import cron
from actors.errors import BadRequestError

UTC = timezone.utc


def _next_by_stepping(start: datetime, n: int, unit: str, after: datetime) -> datetime:
    """The implementation cron.py had before: one step per period from the start."""
    moment, steps = start, 0
    while moment < after:
        steps += 1
        moment = cron._add(start, n * steps, unit)
    return moment


starts = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31),
                      timezones=st.just(UTC))


@settings(max_examples=400, deadline=None)
@given(start=starts, n=st.integers(1, 40), unit=st.sampled_from(["hours", "days", "weeks", "months"]),
       offset=st.integers(-10 ** 6, 4 * 10 ** 7), micro=st.integers(0, 999_999))
@example(start=datetime(2024, 1, 31, 10, tzinfo=UTC), n=1, unit="months", offset=29 * 86400, micro=0)
def test_computed_next_equals_the_stepped_next(start, n, unit, offset, micro):
    after = start + timedelta(seconds=offset, microseconds=micro)
    assert cron._next(start, n, unit, after) == _next_by_stepping(start, n, unit, after)


@pytest.mark.parametrize("unit, seconds", [("hours", 3600), ("days", 86400), ("weeks", 604800)])
def test_a_time_exactly_on_the_series_is_its_own_next(unit, seconds):
    start = datetime(2026, 3, 1, 8, tzinfo=UTC)
    for k in (0, 1, 7, 1000):
        on = start + timedelta(seconds=3 * k * seconds)
        assert cron._next(start, 3, unit, on) == on
        assert cron._next(start, 3, unit, on + timedelta(microseconds=1)) == on + timedelta(seconds=3 * seconds)


def test_month_ends_do_not_drift():
    start = datetime(2024, 1, 31, 10, tzinfo=UTC)
    times = []
    after = start
    for _ in range(5):
        after = cron._next(start, 1, "months", after)
        times.append(after.date().isoformat())
        after += timedelta(seconds=1)
    assert times == ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31"]
    start = datetime(2022, 11, 30, 0, tzinfo=UTC)
    assert cron._next(start, 3, "months", datetime(2023, 1, 1, tzinfo=UTC)).date().isoformat() == "2023-02-28"
    assert cron._next(start, 3, "months", datetime(2023, 3, 1, tzinfo=UTC)).date().isoformat() == "2023-05-30"


# ------------------------------------------------------------------ refused schedules

def days_ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%d %H")


def test_a_start_more_than_MAX_PAST_DAYS_ago_is_a_400_naming_the_limit():
    assert cron.fields_for(f"{days_ago(cron.MAX_PAST_DAYS - 1)} + 1 hour", True)["cron_next_ex"]
    with pytest.raises(BadRequestError, match=r"start .* more than 366 days in the past"):
        cron.fields_for(f"{days_ago(cron.MAX_PAST_DAYS + 2)} + 1 hour", True)
    # The limit is a parameter (the configuration will pass it).
    assert cron.fields_for(f"{days_ago(1000)} + 1 day", True, max_past_days=2000)["cron_on"] is True
    with pytest.raises(BadRequestError, match="more than 10 days"):
        cron.fields_for(f"{days_ago(11)} + 1 day", True, max_past_days=10)


@pytest.mark.timeout(10)            # the stepping implementation took ~30 s of CPU on this one
def test_year_one_is_refused_and_would_be_computed_at_once_anyway():
    for schedule in ("0001-01-01 00 + 1 hour", "1970-01-01 00 + 1 hour"):
        with pytest.raises(BadRequestError, match="366 days"):
            cron.fields_for(schedule, True)
    after = datetime(2026, 5, 17, 13, 30, tzinfo=UTC)
    start = datetime(1, 1, 1, tzinfo=UTC)
    assert cron._next(start, 1, "hours", after) == datetime(2026, 5, 17, 14, tzinfo=UTC)
    assert cron._next(start, 1, "months", after) == datetime(2026, 6, 1, tzinfo=UTC)


def test_a_stored_schedule_keeps_running_after_MAX_PAST_DAYS():
    # The limit is for registration; health keeps computing next times for old schedules.
    actor = {"cron_schedule": "2020-01-01 06 + 1 day", "cron_start": "2020-01-01T06:00:00Z"}
    assert cron.following(actor, datetime(2026, 5, 17, 7, tzinfo=UTC)) == "2026-05-18T06:00:00Z"


@pytest.mark.parametrize("increment, accepted", [("10000", True), ("10001", False), ("9" * 60, False)],
                         ids=["10000", "10001", "60-digits"])
def test_increments_above_MAX_INCREMENT_are_400s(increment, accepted):
    schedule = f"now + {increment} hours"
    if accepted:
        assert cron.fields_for(schedule, True)["cron_schedule"] == schedule
    else:
        with pytest.raises(BadRequestError, match="increment .* above the limit of 10000"):
            cron.fields_for(schedule, True)


@pytest.mark.parametrize("schedule, part", [
    ("now + \u00b2 hours", "increment"),            # a digit to str.isdigit, not to int()
    ("now + 0 hours", "increment"),
    ("+" * 4000, "at most 100 characters"),
    ("1970-01-01 00 + x hours", "increment"),       # what is malformed is named before the age
    ("1970-01-01 00 + 1 fortnight", "unit"),
    ("9999-12-31 23 + 1 hour", None),               # accepted: its first time is the start
], ids=["superscript-two", "zero", "too-long", "old-and-bad-increment", "old-and-bad-unit", "year-9999"])
def test_odd_schedules_are_400s_never_500s(schedule, part):
    if part is None:
        assert cron.fields_for(schedule, True)["cron_next_ex"] == "9999-12-31T23:00:00Z"
        with pytest.raises(BadRequestError, match="before the year 10000"):
            cron._next(datetime(9999, 12, 31, 23, tzinfo=UTC), 1, "hours", datetime(9999, 12, 31, 23, 30, tzinfo=UTC))
        return
    with pytest.raises(BadRequestError, match=part):
        cron.fields_for(schedule, True)
