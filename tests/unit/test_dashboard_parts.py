"""The dashboard's pieces that need no service: the bounded usage series, the SVG charts,
how an API message finds its form field, the per-day accounting and the process's settings."""

from __future__ import annotations

import pytest

from actors import config as config_mod
from actors.services import NAMES
from actors.services.dashboard import options
from actors.usage import by_day, utc_day
from actors.usage_series import UsageSeries
from dashboard import plots
from dashboard.api import ApiError


def test_a_series_stays_bounded_and_evenly_spaced_over_any_run():
    series = UsageSeries(limit=10)
    for second in range(1000):
        series.add(second, second * 10, 5)
    points = series.points
    assert len(points) < 10 and points[0][0] == 0
    steps = {b[0] - a[0] for a, b in zip(points, points[1:], strict=False)}
    assert len(steps) == 1 and series.record()["every"] == next(iter(steps))
    assert points[-1][0] >= 1000 - 2 * next(iter(steps))        # it still reaches the end of the run


def test_a_short_series_keeps_every_sample():
    series = UsageSeries()
    for second in range(5):
        series.add(second + 0.5, second, second)
    assert series.record() == {"points": [[s + 0.5, s, s] for s in range(5)], "every": 1}
    with pytest.raises(ValueError):
        UsageSeries(limit=1)


def test_usage_points_give_percent_of_a_cpu_and_mebibytes():
    cpu, memory = plots.usage_points({"points": [[0, 0, 2**20], [1, 5 * 10**8, 2**21], [3, 25 * 10**8, 0]]})
    assert cpu == [(1.0, 50.0), (3.0, 100.0)]
    assert memory == [(0.0, 1.0), (1.0, 2.0), (3.0, 0.0)]
    assert plots.usage_points(None) == ([], [])


def test_charts_escape_their_labels_and_say_when_empty():
    svg = plots.bar_chart([("<script>", 1.0), ("2026-11-25", 2.5)], "CPU & more", "h")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "CPU &amp; more" in svg
    assert svg.count("<rect") == 2 and svg.startswith("<svg")
    line = plots.line_chart([(0, 1), (1, 2), (2, 0)], "Memory", "MiB")
    assert line.count("<polyline") == 1
    assert "no samples" in plots.line_chart([], "CPU", "cores")
    assert "nothing in this range" in plots.bar_chart([], "CPU-hours per day", "h")


def test_an_api_message_finds_the_field_it_quotes():
    error = ApiError(400, "'max_workers' must be a whole number; got 'many'")
    assert error.field(["image", "max_workers"]) == "max_workers"
    assert ApiError(400, "'defaultEnvironment' key '1x' is not a valid variable name").field(
        ["image", "default_environment"]) == "default_environment"
    assert ApiError(400, "stateful actors can only have 1 worker").field(["image"]) is None


def test_accounting_per_day():
    day = 86400 * 20000
    records = [{"end": day + 10, "cpu_ns": 3600 * 10**9, "runtime": 7200},
               {"end": day + 20, "cpu_ns": 1800 * 10**9, "runtime": 0},
               {"end": day + 86400, "cpu_ns": 0}]
    days = by_day(records, lambda r: utc_day(r["end"]))
    assert [d["executions"] for d in days] == [2, 1]
    assert days[0]["cpu_hours"] == 1.5 and days[0]["runtime_hours"] == 2.0
    assert days[0]["day"] < days[1]["day"]


def test_the_dashboard_is_a_platform_process_on_its_own_port(tmp_path):
    assert "dashboard" in NAMES
    cfg = config_mod.load(environ={"ABACO_GENERAL_DATA_DIR": str(tmp_path), "ABACO_DASHBOARD_PORT": "19999"})
    assert cfg.dashboard.host == "127.0.0.1" and cfg.dashboard.port == 19999
    assert options(cfg)["bind"] == ["127.0.0.1:19999"] and options(cfg)["worker_class"] == "gthread"
    assert config_mod.load(environ={"ABACO_GENERAL_DATA_DIR": str(tmp_path)}).dashboard.port == 8080


def test_django_settings_come_from_the_config(tmp_path):
    from dashboard.settings import api_url, build
    cfg = config_mod.load(environ={"ABACO_GENERAL_DATA_DIR": str(tmp_path), "ABACO_WEB_PORT": "18123"})
    first, again = build(cfg), build(cfg)
    assert first["SECRET_KEY"] == again["SECRET_KEY"] and len(first["SECRET_KEY"]) > 40   # made once, then kept
    assert (cfg.keys_dir / "dashboard.secret").stat().st_mode & 0o777 == 0o600
    assert first["SESSION_ENGINE"].endswith(".file")            # the token stays on the server
    assert first["DEBUG"] is False and "django.middleware.csrf.CsrfViewMiddleware" in first["MIDDLEWARE"]
    assert first["SESSION_COOKIE_SECURE"] is True and first["CSRF_COOKIE_SECURE"] is True
    assert first["SESSION_COOKIE_HTTPONLY"] is True
    assert api_url(cfg) == "http://127.0.0.1:18123"
    secure = config_mod.load(environ={"ABACO_GENERAL_DATA_DIR": str(tmp_path), "ABACO_DASHBOARD_SECURE_COOKIES": "false",
                                      "ABACO_DASHBOARD_API_URL": "https://api.lab/"})
    assert not build(secure)["SESSION_COOKIE_SECURE"] and not build(secure)["CSRF_COOKIE_SECURE"]
    assert api_url(secure) == "https://api.lab"


class CountingStore:
    """The accounting store of the in-memory doubles, counting the documents read."""

    def __init__(self, store):
        self.store, self.read = store, 0

    def get_many(self, keys):
        self.read += len(keys)
        return self.store.get_many(keys)


def test_the_accounting_index_reads_each_record_once_and_forgets_deleted_ones(stores):
    from actors.accounting_index import AccountingIndex
    for i in range(5):
        stores.accounting.put(f"e{i}", {"execution_id": f"e{i}", "owner": "u", "cpu_ns": i * 10**9,
                                        "end_time": "2026-11-25T10:00:00Z", "status": "COMPLETE"}, group="default/u")
    counting = CountingStore(stores.accounting)
    index = AccountingIndex(counting)
    first = index.figures_of(stores.accounting.keys())
    assert [f["key"] for f in first] == ["e0", "e1", "e2", "e3", "e4"] and counting.read == 5
    assert first[0]["tenant"] == "default" and first[2]["day"] == "2026-11-25" and first[3]["cpu_ns"] == 3 * 10**9
    stores.accounting.put("e5", {"execution_id": "e5", "owner": "u", "end_time": "2026-11-26T00:00:01Z"})
    stores.accounting.update("e1", {"written": True})            # bookkeeping: the figures stay
    stores.accounting.delete("e0")
    again = index.figures_of(stores.accounting.keys())
    assert [f["key"] for f in again] == ["e1", "e2", "e3", "e4", "e5"] and counting.read == 6
    assert index.chosen(stores.accounting.keys(), lambda f: f["day"] == "2026-11-26")[0]["key"] == "e5"
    full = AccountingIndex(counting, max_entries=2)               # past its size it reads at each request
    assert len(full.figures_of(stores.accounting.keys())) == 5
    assert len(full.figures_of(stores.accounting.keys())) == 5 and counting.read == 6 + 10


def test_totals_per_user_and_actor_add_up_from_one_pass():
    from actors.usage import summarise
    records = [{"owner": "b", "actor_id": "x", "status": "COMPLETE", "cpu_ns": 10**9, "runtime": 1, "memory_peak": 5,
                "io_bytes": 2},
               {"owner": "a", "actor_id": "y", "status": "ERROR", "cpu_ns": 2 * 10**9, "runtime": 2.5, "memory_peak": 7,
                "io_bytes": 3},
               {"owner": "b", "actor_id": "y", "status": "COMPLETE"}]
    out = summarise(records)
    assert out["total"] == {"executions": 3, "complete": 2, "error": 1, "cpu_seconds": 3.0, "runtime_seconds": 3.5,
                            "memory_peak_max": 7, "io_bytes": 5}
    assert [(u["user"], u["executions"], u["cpu_seconds"]) for u in out["users"]] == [("a", 1, 2.0), ("b", 2, 1.0)]
    assert [(a["actor_id"], a["owner"], a["error"]) for a in out["actors"]] == [("x", "b", 0), ("y", "a", 1),
                                                                                  ("y", "b", 0)]
    assert summarise([])["total"]["executions"] == 0 and summarise([])["users"] == []
