"""Cron schedules: an actor sends itself a message at regular times.

``cron_schedule`` is ``"YYYY-MM-DD hh + N unit"`` (or ``"now + N unit"``) where unit is
hour(s), day(s), week(s) or month(s): the first run is at hour ``hh`` (UTC) of that
day, then every N units. ``cron_on`` switches it; ``cron_next_ex`` shows the next time.
The health process fires due schedules (``fire_due``): it moves ``cron_next_ex`` on with
a compare-and-set first, so two health processes never fire one time twice, and puts it
back if the message could not be queued.
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
from actors.errors import BadRequestError
from actors.store import Stores, StoreUnavailable

log = logging.getLogger(__name__)

SCHEDULE = re.compile(r"^\s*(?P<start>\S+(?:\s+\d{1,2})?)\s*\+\s*(?P<n>\S+)\s+(?P<unit>\S+)\s*$")
UNITS = {"hour": "hours", "hours": "hours", "day": "days", "days": "days", "week": "weeks", "weeks": "weeks",
         "month": "months", "months": "months"}


def parse(schedule: str, now: datetime | None = None) -> tuple[datetime, int, str]:
    """(first run, N, unit) of a schedule; a 400 naming the bad part otherwise."""
    now = now or datetime.now(timezone.utc)
    if not isinstance(schedule, str):
        raise BadRequestError("'cron_schedule' must be a string such as '2026-12-01 08 + 1 day'")
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
    if not n_text.isdigit() or int(n_text) < 1:
        raise BadRequestError(f"'cron_schedule': the increment {n_text!r} is not a whole number of at least 1")
    if unit_text.lower() not in UNITS:
        raise BadRequestError(f"'cron_schedule': the unit {unit_text!r} is not hour(s), day(s), week(s) or month(s)")
    return start, int(n_text), UNITS[unit_text.lower()]


def _add(moment: datetime, n: int, unit: str) -> datetime:
    if unit != "months":
        return moment + timedelta(**{unit: n})
    month = moment.month - 1 + n
    year, month = moment.year + month // 12, month % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def _next(start: datetime, n: int, unit: str, after: datetime) -> datetime:
    """The first time of the series start, start + n unit, ... at or after ``after``."""
    moment, steps = start, 0
    while moment < after:
        steps += 1
        moment = _add(start, n * steps, unit)    # from the start, so month ends do not drift
    return moment


def fields_for(schedule: str | None, on: bool) -> dict:
    """What to store on the actor for a new or changed schedule ("now" is fixed here)."""
    if not schedule:
        return {"cron_schedule": "", "cron_on": False, "cron_next_ex": None, "cron_start": None}
    now = datetime.now(timezone.utc)
    start, n, unit = parse(schedule, now)
    return {"cron_schedule": schedule, "cron_on": on, "cron_start": times.iso(start),
            "cron_next_ex": times.iso(_next(start, n, unit, now - timedelta(seconds=1)))}


def following(actor: dict, after: datetime) -> str:
    _, n, unit = parse(actor["cron_schedule"], after)
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
        except (channels.ChannelUnavailable, StoreUnavailable) as exc:
            stores.actors.update(actor_id, {"cron_next_ex": due}, expect={"cron_next_ex": upcoming})
            log.warning("cron: actor %s not fired for %s (%s); trying again next round", actor_id, due, exc)
    return fired
