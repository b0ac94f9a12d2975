"""The API routes the dashboard's admin pages are built on (/whoami, /admin/..., the per-day
and exported accounting, an execution's usage samples), each with the attack next to the
legitimate use: a non-admin, a nonce and another tenant's admin get nothing."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def finished(platform):
    actor = platform.register("abaco/sleep:local", name="adm-sleep", user="adm-alice",
                              default_environment={"SLEEP_SECONDS": "3"})
    eid = platform.ok("POST", f"/actors/{actor['id']}/messages", data={"message": "x"}, user="adm-alice")["execution_id"]
    record = platform.wait_execution(actor["id"], eid, user="adm-alice")
    platform.wait_for(lambda: platform.ok("GET", "/accounting", user="adm-alice")["total"]["executions"] >= 1,
                      timeout=60, what="the accounting record")
    return actor, record


def test_whoami_names_the_caller(platform):
    assert platform.ok("GET", "/whoami", user="adm-bob") == {"user": "adm-bob", "role": "user", "tenant": "default",
                                                              "is_admin": False}
    me = platform.ok("GET", "/whoami", user="adm-root", role="admin", tenant="t9")
    assert me["is_admin"] and me["tenant"] == "t9"
    assert platform.request("GET", "/whoami", user=None).status_code == 401


def test_admin_views_are_for_admins_only(platform, finished):
    actor, _ = finished
    for path in ("/admin/overview", "/admin/workers", "/admin/executions"):
        refused = platform.request("GET", path, user="adm-alice")       # the owner of everything here, not an admin
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["status"] == "error" and "admin" in refused.json()["message"]
    nonce = platform.ok("POST", f"/actors/{actor['id']}/nonces", json={"level": "READ", "max_uses": 5},
                        user="adm-alice")["id"]
    assert platform.request("GET", f"/admin/workers?x-nonce={nonce}", user=None).status_code in (400, 403)


def test_admin_views_show_the_tenants_actors_workers_and_executions(platform, finished):
    actor, record = finished
    overview = platform.ok("GET", "/admin/overview", user="adm-root", role="admin")
    assert overview["actors"].get("READY", 0) >= 1 and overview["executions"].get("COMPLETE", 0) >= 1
    assert sum(overview["workers"].values()) >= 1 and isinstance(overview["messages_waiting"], int)
    workers = platform.ok("GET", "/admin/workers", user="adm-root", role="admin")
    assert actor["id"] in {w["actor_id"] for w in workers}
    listing = platform.ok("GET", f"/admin/executions?actor={actor['id']}", user="adm-root", role="admin")
    assert listing["total"] == 1 and listing["executions"][0]["id"] == record["id"]
    assert listing["executions"][0]["cpu"] == record["cpu"] and listing["executions"][0]["owner"] == "adm-alice"
    done = platform.ok("GET", "/admin/executions?status=COMPLETE&limit=1000", user="adm-root", role="admin")
    assert all(e["status"] == "COMPLETE" for e in done["executions"])
    assert platform.request("GET", "/admin/executions?limit=100000", user="adm-root", role="admin").status_code == 400
    assert platform.request("GET", "/admin/executions?offset=x", user="adm-root", role="admin").status_code == 400


def test_another_tenants_admin_sees_none_of_it(platform, finished):
    actor, _ = finished
    workers = platform.ok("GET", "/admin/workers", user="adm-root", role="admin", tenant="t9")
    assert actor["id"] not in {w["actor_id"] for w in workers}
    listing = platform.ok("GET", "/admin/executions", user="adm-root", role="admin", tenant="t9")
    assert actor["id"] not in {e["actor_id"] for e in listing["executions"]}
    assert platform.ok("GET", "/admin/overview", user="adm-root", role="admin", tenant="t9")["executions"] == {}


def test_an_execution_keeps_its_usage_samples(platform, finished):
    _, record = finished
    points = record["samples"]["points"]
    assert len(points) >= 2 and record["samples"]["every"] >= 1
    times = [p[0] for p in points]
    assert times == sorted(times) and times[-1] <= record["runtime"] + 1.5
    assert all(p[1] <= record["cpu"] for p in points)          # CPU so far never passes the final figure
    assert all(p[2] <= record["memory_peak"] for p in points)


def test_accounting_per_day_and_exported(platform, finished):
    actor, record = finished
    mine = platform.ok("GET", "/accounting", user="adm-alice")
    assert sum(d["executions"] for d in mine["days"]) == mine["total"]["executions"] >= 1
    assert abs(sum(d["cpu_hours"] for d in mine["days"]) * 3600 - mine["total"]["cpu_seconds"]) < 0.01
    csv = platform.request("GET", "/accounting/export?format=csv", user="adm-alice")
    assert csv.status_code == 200 and csv.headers["Content-Type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0].startswith("job_number,execution_id") and len(lines) == 1 + mine["total"]["executions"]
    assert record["id"] in csv.text
    sge = platform.request("GET", "/accounting/export?format=sge", user="adm-alice")
    assert sge.status_code == 200 and record["id"] in sge.text and len(sge.text.splitlines()[0].split(":")) == 45
    # another user exports only their own (nothing), and may not ask for alice's
    other = platform.request("GET", "/accounting/export?format=csv", user="adm-bob")
    assert other.status_code == 200 and record["id"] not in other.text
    assert platform.request("GET", "/accounting/export?user=adm-alice", user="adm-bob").status_code == 403
    assert platform.request("GET", "/accounting/export?format=xls", user="adm-alice").status_code == 400
    assert platform.request("GET", "/accounting/export?since=yesterday", user="adm-alice").status_code == 400
    # an admin may export anyone's
    assert record["id"] in platform.request("GET", "/accounting/export?user=adm-alice", user="adm-root",
                                            role="admin").text


def test_list_executions_with_details(platform, finished):
    actor, record = finished
    plain = platform.ok("GET", f"/actors/{actor['id']}/executions", user="adm-alice")["executions"][0]
    assert "cpu" not in plain                                   # Abaco's shape unless asked
    detailed = platform.ok("GET", f"/actors/{actor['id']}/executions?details=true", user="adm-alice")["executions"][0]
    assert detailed["cpu"] == record["cpu"] and detailed["memory_peak"] == record["memory_peak"]
    assert detailed["runtime"] == record["runtime"] and detailed["exit_code"] == 0
