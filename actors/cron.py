"""Cron schedules: an actor sends itself a message at regular times.

``cron_schedule`` is ``"YYYY-MM-DD hh + N unit"`` (or ``"now + N unit"``) where unit is
hour(s), day(s), week(s) or month(s): the first run is at hour ``hh`` (UTC) of that
day, then every N units. ``cron_on`` switches it; ``cron_next_ex`` shows the next time.
The health process fires due schedules (``fire_due``): it moves ``cron_next_ex`` on with
a compare-and-set first, so two health processes never fire one time twice, and puts it
back if the message could not be queued.

The next time is computed arithmetically from the start (a constant number of steps
whatever the start), and a schedule is refused with a 400 when its start lies more than
``MAX_PAST_DAYS`` days in the past or its increment is above ``MAX_INCREMENT`` units.
Each time is counted from the start, so month ends do not drift (Jan 31 + 1 month is
Feb 28 or 29, then Mar 31).
"""

from __future__ import annotations

import calendar
import json
import logging
import re
from datetime import datetime, timedelta, timezone

from actors import channels, mailbox, times
from actors.codes import ActorStatus
from actors.config import Config
from actors.errors import BadRequestError, TooManyRequestsError
from actors.store import Stores, StoreUnavailable

log = logging.getLogger(__name__)

SCHEDULE = re.compile(r"^\s*(?P<start>\S+(?:\s+\d{1,2})?)\s*\+\s*(?P<n>\S+)\s+(?P<unit>\S+)\s*$")
UNITS = {"hour": "hours", "hours": "hours", "day": "days", "days": "days", "week": "weeks", "weeks": "weeks",
         "month": "months", "months": "months"}
SECONDS = {"hours": 3600, "days": 86400, "weeks": 7 * 86400}
MAX_PAST_DAYS = 366        # a start further in the past is refused (None: no limit)
MAX_INCREMENT = 10000      # the largest N of "+ N unit"
MAX_SCHEDULE = 100         # characters of a schedule


def parse(schedule: str, now: datetime | None = None,
          max_past_days: int | None = MAX_PAST_DAYS) -> tuple[datetime, int, str]:
    """(first run, N, unit) of a schedule; a 400 naming the bad part otherwise.

    The start may lie at most ``max_past_days`` days before ``now`` (None: any time).
    """
    now = now or datetime.now(timezone.utc)
    if not isinstance(schedule, str):
        raise BadRequestError("'cron_schedule' must be a string such as '2026-12-01 08 + 1 day'")
    if len(schedule) > MAX_SCHEDULE:
        raise BadRequestError(f"'cron_schedule' may have at most {MAX_SCHEDULE} characters")
    match = SCHEDULE.match(schedule)
    if not match:
        raise BadRequestError(f"'cron_schedule' {schedule!r} is not 'YYYY-MM-DD hh + N unit' (or 'now + N unit')")
    start_text, n_text, unit_text = match.group("start"), match.group("n"), match.group("unit")
    if start_text.strip() == "now":
        start = now
    else:
        try:
            day, hour = start_text.split()
            start = datetime.strptime(day, "%Y-%m-%d").replace(hour=int(hour), tzinfo=timezone.utc)
        except ValueError:
            raise BadRequestError(f"'cron_schedule': the start {start_text!r} is not 'YYYY-MM-DD hh' "
                                  "(a real date and an hour from 0 to 23)") from None
    if not (n_text.isascii() and n_text.isdigit()) or int(n_text) < 1:
        raise BadRequestError(f"'cron_schedule': the increment {n_text!r} is not a whole number of at least 1")
    if len(n_text) > 8 or int(n_text) > MAX_INCREMENT:
        raise BadRequestError(f"'cron_schedule': the increment {n_text} is above the limit of {MAX_INCREMENT}")
    if unit_text.lower() not in UNITS:
        raise BadRequestError(f"'cron_schedule': the unit {unit_text!r} is not hour(s), day(s), week(s) or month(s)")
    if max_past_days is not None and start < now - timedelta(days=max_past_days):
        raise BadRequestError(f"'cron_schedule': the start {start_text!r} is more than {max_past_days} days "
                              "in the past; give a later start")
    return start, int(n_text), UNITS[unit_text.lower()]


def _add(moment: datetime, n: int, unit: str) -> datetime:
    if unit != "months":
        return moment + timedelta(**{unit: n})
    month = moment.month - 1 + n
    year, month = moment.year + month // 12, month % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def _next(start: datetime, n: int, unit: str, after: datetime) -> datetime:
    """The first time of the series start, start + n unit, ... at or after ``after``.

    Computed, not stepped: the number of steps is the elapsed time divided by the
    period, rounded up (for months, the elapsed months, then at most one more step).
    """
    if start >= after:
        return start
    try:
        if unit != "months":
            period = timedelta(seconds=n * SECONDS[unit])
            steps = -((start - after) // period)              # ceil((after - start) / period), exact
            return start + steps * period
        elapsed = (after.year - start.year) * 12 + after.month - start.month
        steps = -(-elapsed // n)                             # the first step landing in after's month or later
        moment = _add(start, n * steps, unit)    # from the start, so month ends do not drift
        return moment if moment >= after else _add(start, n * (steps + 1), unit)
    except (OverflowError, ValueError):
        raise BadRequestError(f"'cron_schedule' has no time after {times.iso(after)} before the year 10000") from None


def fields_for(schedule: str | None, on: bool, max_past_days: int | None = MAX_PAST_DAYS) -> dict:
    """What to store on the actor for a new or changed schedule ("now" is fixed here).

    A start more than ``max_past_days`` days ago is refused (None: any start).
    """
    if not schedule:
        return {"cron_schedule": "", "cron_on": False, "cron_next_ex": None, "cron_start": None}
    now = datetime.now(timezone.utc)
    start, n, unit = parse(schedule, now, max_past_days)
    return {"cron_schedule": schedule, "cron_on": on, "cron_start": times.iso(start),
            "cron_next_ex": times.iso(_next(start, n, unit, now - timedelta(seconds=1)))}


def following(actor: dict, after: datetime) -> str:
    """The next time of a stored schedule at or after ``after`` (its start may be long past)."""
    _, n, unit = parse(actor["cron_schedule"], after, max_past_days=None)
    return times.iso(_next(times.parse(actor["cron_start"]), n, unit, after))


def fire_due(config: Config, stores: Stores, broker: channels.Broker, now: datetime | None = None) -> int:
    """Send a message to every actor whose schedule is due; returns how many were sent."""
    now = now or datetime.now(timezone.utc)
    fired = 0
    for actor_id, actor in list(stores.actors.items()):
        due = actor.get("cron_next_ex")
        if not (actor.get("cron_on") and actor.get("cron_schedule") and due) or actor.get("status") == ActorStatus.ERROR:
            continue
        try:
            if times.parse(due) > now:
                continue
            upcoming = following(actor, now + timedelta(seconds=1))
        except (ValueError, KeyError, TypeError, BadRequestError):
            continue
        if stores.actors.update(actor_id, {"cron_next_ex": upcoming}, expect={"cron_next_ex": due}) is None:
            continue                      # another health process fired it
        try:
            mailbox.send(config, stores, broker, actor, json.dumps({"_abaco_cron": due}).encode(),
                         "application/json", executor=actor["owner"])
            fired += 1
            log.info("cron: actor %s fired for %s; next at %s", actor_id, due, upcoming)
        except TooManyRequestsError as exc:
            log.warning("cron: actor %s not fired for %s: %s", actor_id, due, exc)   # next time it may be
        except (channels.ChannelUnavailable, StoreUnavailable) as exc:
            stores.actors.update(actor_id, {"cron_next_ex": due}, expect={"cron_next_ex": upcoming})
            log.warning("cron: actor %s not fired for %s (%s); trying again next round", actor_id, due, exc)
    return fired
