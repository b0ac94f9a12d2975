"""Cron schedules fire through the health process, once per due time, and say what is wrong."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from actors.store import open_stores

pytestmark = pytest.mark.integration


def executions(platform, actor_id):
    return platform.ok("GET", f"/actors/{actor_id}/executions")["executions"]


def test_bad_schedules_name_the_bad_part(platform):
    for schedule, part in (("2026-02-30 08 + 1 day", "start"), ("2026-02-01 08 + x day", "increment"),
                           ("2026-02-01 08 + 1 fortnight", "unit"), ("every day", "YYYY-MM-DD")):
        resp = platform.request("POST", "/actors", json={"image": "abaco/echo:local", "cron_schedule": schedule})
        assert resp.status_code == 400 and part in resp.json()["message"], (schedule, resp.text)


def test_schedule_fires_once_per_due_time(platform):
    stores = open_stores(platform.config)
    actor = platform.register("abaco/echo:local", cron_schedule="now + 1 hour", cron_on=True)
    assert actor["cron_next_ex"] and actor["cron_on"] is True
    platform.wait_for(lambda: len(executions(platform, actor["id"])) == 1, timeout=30,
                      what="the first cron message")
    moved = platform.ok("GET", f"/actors/{actor['id']}")["cron_next_ex"]
    assert datetime.fromisoformat(moved.replace("Z", "+00:00")) > datetime.now(timezone.utc) + timedelta(minutes=50)
    first = executions(platform, actor["id"])[0]
    done = platform.wait_execution(actor["id"], first["id"])
    logs = platform.ok("GET", f"/actors/{actor['id']}/executions/{done['id']}/logs")["logs"]
    assert "_abaco_cron" in logs
    # Make the next time due: it fires once more, not again and again.
    past = (datetime.now(timezone.utc) - timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
    stores.actors.update(actor["id"], {"cron_next_ex": past})
    platform.wait_for(lambda: len(executions(platform, actor["id"])) == 2, timeout=30, what="the second firing")
    time.sleep(5)                      # two more health rounds
    assert len(executions(platform, actor["id"])) == 2
    # Switched off: nothing fires even when due.
    platform.ok("PUT", f"/actors/{actor['id']}", json={"image": "abaco/echo:local", "cron_on": False})
    stores.actors.update(actor["id"], {"cron_next_ex": past})
    time.sleep(5)
    assert len(executions(platform, actor["id"])) == 2
