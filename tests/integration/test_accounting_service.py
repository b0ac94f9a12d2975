"""Accounting on the real pipeline: records, totals, the SGE and CSV files, /metrics."""

from __future__ import annotations

import csv
import socket

import pytest
import requests

from actors.accounting_files import epoch, read_sge

pytestmark = pytest.mark.integration


def send(platform, actor_id, user):
    return platform.ok("POST", f"/actors/{actor_id}/messages", user=user, data={"message": "x"})["execution_id"]


@pytest.fixture(scope="module")
def finished(platform):
    """Executions of three actors of two users, one of them killed: {execution_id: execution}."""
    a1 = platform.register("abaco/echo:local", user="acct-alice")
    a2 = platform.register("abaco/echo:local", user="acct-alice")
    b1 = platform.register("abaco/sleep:local", user="acct-bob", max_run_time=1)
    sent = [(a1["id"], "acct-alice")] * 3 + [(a2["id"], "acct-alice")] * 2 + [(b1["id"], "acct-bob")]
    ids = [(actor_id, user, send(platform, actor_id, user)) for actor_id, user in sent]
    done = {eid: platform.wait_execution(actor_id, eid, user=user) for actor_id, user, eid in ids}

    def all_accounted():
        body = platform.ok("GET", "/accounting", user="admin", role="admin")
        counted = sum(a["executions"] for a in body["actors"] if a["actor_id"] in {a1["id"], a2["id"], b1["id"]})
        return counted == len(done)
    platform.wait_for(all_accounted, timeout=60, what="every execution to be accounted")
    return {"executions": done, "actors": {"a1": a1["id"], "a2": a2["id"], "b1": b1["id"]}}


def test_killed_execution_is_accounted_as_error(finished):
    statuses = sorted(e["status"] for e in finished["executions"].values())
    assert statuses == ["COMPLETE"] * 5 + ["ERROR"]


def test_totals_equal_the_sum_of_the_executions(platform, finished):
    mine = [e for e in finished["executions"].values() if e["actor_id"] != finished["actors"]["b1"]]
    body = platform.ok("GET", "/accounting", user="acct-alice")
    assert body["user"] == "acct-alice"
    assert [u["user"] for u in body["users"]] == ["acct-alice"]
    total = body["total"]
    assert total["executions"] == len(mine) == 5
    assert total["complete"] == 5 and total["error"] == 0
    assert total["cpu_seconds"] == pytest.approx(sum(e["cpu"] for e in mine) / 1e9, abs=1e-5)
    assert total["io_bytes"] == sum(e["io"] for e in mine)
    assert total["runtime_seconds"] == pytest.approx(sum(e["runtime"] for e in mine), abs=1e-5)
    assert total["memory_peak_max"] == max(e["memory_peak"] for e in mine)
    per_actor = {a["actor_id"]: a["executions"] for a in body["actors"]}
    assert per_actor == {finished["actors"]["a1"]: 3, finished["actors"]["a2"]: 2}


def test_filters_and_who_may_ask(platform, finished):
    a2 = finished["actors"]["a2"]
    assert platform.ok("GET", f"/accounting?actor={a2}", user="acct-alice")["total"]["executions"] == 2
    assert platform.ok("GET", "/accounting?since=2100-01-01", user="acct-alice")["total"]["executions"] == 0
    assert platform.ok("GET", "/accounting?until=2000-01-01T00:00:00Z",
                       user="acct-alice")["total"]["executions"] == 0
    assert platform.ok("GET", "/accounting?since=0", user="acct-alice")["total"]["executions"] == 5
    bob = platform.ok("GET", "/accounting?user=acct-bob", user="admin", role="admin")
    assert bob["total"]["executions"] == 1 and bob["total"]["error"] == 1
    denied = platform.request("GET", "/accounting?user=acct-bob", user="acct-alice")
    assert denied.status_code == 403 and denied.json()["status"] == "error"
    bad = platform.request("GET", "/accounting?since=yesterday", user="acct-alice")
    assert bad.status_code == 400 and "since" in bad.json()["message"]
    backwards = platform.request("GET", "/accounting?since=2026-02-01&until=2026-01-01", user="acct-alice")
    assert backwards.status_code == 400
    assert platform.request("GET", "/accounting", user=None).status_code == 401


def test_sge_and_csv_files_read_back_to_the_executions(platform, finished):
    executions = finished["executions"]
    lines = [r for r in read_sge(platform.config.accounting_file) if r["execution_id"] in executions]
    assert sorted(r["execution_id"] for r in lines) == sorted(executions)      # once each
    for rec in lines:
        ex = executions[rec["execution_id"]]
        assert rec["actor_id"] == ex["actor_id"] and rec["status"] == ex["status"]
        assert rec["cpu_ns"] == ex["cpu"] and rec["io_bytes"] == ex["io"]
        assert rec["memory_peak"] == ex["memory_peak"]
        assert rec["end_time"] == epoch(ex["finish_time"])
        assert rec["exit_code"] == (ex["exit_code"] if ex["exit_code"] is not None else 0)
        assert rec["runtime"] == pytest.approx(ex["runtime"])
        if ex["status"] == "ERROR":
            assert rec["reason"] == ex["status_message"] and rec["failed"] == 100
    with open(platform.config.accounting_csv) as fh:
        rows = [row for row in csv.DictReader(fh) if row["execution_id"] in executions]
    assert len(rows) == len(executions)
    assert {row["job_number"] for row in rows} == {str(r["job_number"]) for r in lines}


def _unix_get(path: str, sock_path, token: str | None = None) -> tuple[int, str]:
    headers = f"Authorization: Bearer {token}\r\n" if token else ""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(30)
        s.connect(str(sock_path))
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n{headers}\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


def test_metrics_are_for_admins_unless_opened_on_loopback(platform, finished):
    assert platform.request("GET", "/metrics", user=None).status_code == 401
    assert platform.request("GET", "/metrics", user="acct-alice").status_code == 403
    resp = platform.request("GET", "/metrics", user="admin", role="admin")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/plain")
    text = resp.text
    counts = {line.split("{")[1].split("}")[0]: float(line.rsplit(" ", 1)[1])
              for line in text.splitlines() if line.startswith("abaco_executions_total{")}
    assert counts.get('status="COMPLETE"', 0) >= 5 and counts.get('status="ERROR"', 0) >= 1
    for family in ("abaco_execution_cpu_seconds_total", "abaco_execution_memory_peak_bytes_bucket",
                   "abaco_execution_runtime_seconds_count", "abaco_actor_queue_depth",
                   "abaco_workers", "abaco_executions_running"):
        assert family in text, family
    assert f'abaco_actor_queue_depth{{actor="{finished["actors"]["a1"]}"}} 0' in text
    inf = [ln for ln in text.splitlines() if ln.startswith('abaco_execution_runtime_seconds_bucket{le="+Inf"}')]
    count = [ln for ln in text.splitlines() if ln.startswith("abaco_execution_runtime_seconds_count")]
    assert inf[0].rsplit(" ", 1)[1] == count[0].rsplit(" ", 1)[1]
    # Over the unix socket (which actor containers may see) it takes an admin token.
    sock = platform.config.api_socket
    assert _unix_get("/metrics", sock)[0] == 401
    assert _unix_get("/metrics", sock, platform.token("acct-alice", "user"))[0] == 403
    status, body = _unix_get("/metrics", sock, platform.token("admin", "admin"))
    assert status == 200 and "abaco_executions_total" in body
    # An admin of another tenant sees that tenant's figures only (none here).
    other = platform.request("GET", "/metrics", user="admin", role="admin", tenant="acct-other").text
    assert 'abaco_executions_total{status="COMPLETE"}' not in other and finished["actors"]["a1"] not in other
    # Opened on loopback (for a local Prometheus), it needs no token there.
    url = platform.start_api("api-metrics-open", {"ABACO_WEB_METRICS_OPEN_LOOPBACK": "true"})
    assert requests.get(url + "/metrics", timeout=30).status_code == 200
