"""The dashboard's pieces that need no service: the bounded usage series, the SVG charts,
how an API message finds its form field, the per-day accounting and the process's settings."""

from __future__ import annotations

import pytest

from actors import config as config_mod
from actors.services import NAMES
from actors.services.dashboard import options
from actors.usage import by_day
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
    days = by_day(records, lambda r: r["end"])
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
    assert first["SESSION_COOKIE_SECURE"] is False and first["SESSION_COOKIE_HTTPONLY"] is True
    assert api_url(cfg) == "http://127.0.0.1:18123"
    secure = config_mod.load(environ={"ABACO_GENERAL_DATA_DIR": str(tmp_path), "ABACO_DASHBOARD_SECURE_COOKIES": "true",
                                      "ABACO_DASHBOARD_API_URL": "https://api.lab/"})
    assert build(secure)["SESSION_COOKIE_SECURE"] and build(secure)["CSRF_COOKIE_SECURE"]
    assert api_url(secure) == "https://api.lab"
