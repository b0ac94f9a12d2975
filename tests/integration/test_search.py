"""Search with every operator on real actors, executions, workers and logs; permissions respected."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def data(platform):
    a = platform.register("abaco/echo:local", user="se-alice", name="search-one", max_workers=1)
    b = platform.register("abaco/sleep:local", user="se-alice", name="search-two", max_workers=1,
                          default_environment={"SLEEP_SECONDS": "1"})
    hidden = platform.register("abaco/echo:local", user="se-bob", name="search-hidden", wait_ready=False)
    ids = []
    for actor, word in ((a, "kumquat"), (a, "papaya"), (b, "mango")):
        eid = platform.ok("POST", f"/actors/{actor['id']}/messages", user="se-alice",
                          data={"message": word})["execution_id"]
        ids.append(platform.wait_execution(actor["id"], eid, user="se-alice"))
    return {"a": a, "b": b, "hidden": hidden, "executions": ids}


def search(platform, kind, user="se-alice", **params):
    resp = platform.request("GET", f"/actors/search/{kind}", user=user, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()["result"]


def names(result):
    return sorted(d.get("name") for d in result["search"])


def test_actor_filters(platform, data):
    assert names(search(platform, "actors", name="search-one")) == ["search-one"]
    assert names(search(platform, "actors", **{"name.like": "search-*"})) == ["search-one", "search-two"]
    assert names(search(platform, "actors", **{"name.nlike": "%one", "name.like": "search"})) == ["search-two"]
    assert names(search(platform, "actors", **{"name.in": json.dumps(["search-two", "search-hidden"])})) == ["search-two"]
    assert names(search(platform, "actors", **{"name.nin": json.dumps(["search-two"]), "name.like": "search"})) \
        == ["search-one"]
    assert names(search(platform, "actors", **{"name.neq": "search-one", "name.like": "search"})) == ["search-two"]
    assert names(search(platform, "actors", **{"image.eq": "abaco/sleep:local"})) == ["search-two"]
    assert names(search(platform, "actors", search="SLEEP_SECONDS")) == ["search-two"]
    assert names(search(platform, "actors", exactsearch="search-one")) == ["search-one"]
    assert names(search(platform, "actors", **{"default_environment.SLEEP_SECONDS": "1"})) == ["search-two"]
    # bob's actor is never found by alice, and is by bob.
    assert "search-hidden" not in names(search(platform, "actors", **{"name.like": "search"}))
    assert names(search(platform, "actors", user="se-bob", **{"name.like": "search"})) == ["search-hidden"]


def test_execution_filters_times_numbers_and_paging(platform, data):
    first, second, third = data["executions"]
    day = first["start_time"][:10]
    found = search(platform, "executions", **{"start_time.gte": day, "actor_id": data["a"]["id"]})
    assert found["_metadata"]["total_count"] == 2
    assert search(platform, "executions", **{"start_time.lt": "2000-01"})["_metadata"]["total_count"] == 0
    assert search(platform, "executions", **{"start_time.between": f"2000-01-01,{day}T23:59:59Z",
                                              "actor_id": data["b"]["id"]})["_metadata"]["total_count"] == 1
    slow = search(platform, "executions", **{"runtime.gt": "0.9", "actor_id.in": json.dumps(
        [data["a"]["id"], data["b"]["id"]])})
    assert [e["id"] for e in slow["search"]] == [third["id"]]
    assert search(platform, "executions", **{"final_state.ExitCode": "0",
                                              "actor_id": data["a"]["id"]})["_metadata"]["total_count"] == 2
    page = search(platform, "executions", actor_id=data["a"]["id"], skip="1", limit="1")
    assert page["_metadata"] == {"count_returned": 1, "record_limit": 1, "records_skipped": 1, "total_count": 2}
    assert search(platform, "workers", actor_id=data["a"]["id"])["_metadata"]["total_count"] >= 1
    logs = search(platform, "logs", search="papaya")
    assert [d["execution_id"] for d in logs["search"]] == [second["id"]]


def test_bad_queries_are_400(platform, data):
    for params in ({"name.equals": "x"}, {"name.in": "not-a-list"}, {"start_time.between": "2026"},
                   {"limit": "0"}, {"skip": "-1"}):
        resp = platform.request("GET", "/actors/search/actors", user="se-alice", params=params)
        assert resp.status_code == 400, (params, resp.text)
    assert platform.request("GET", "/actors/search/nonsense", user="se-alice").status_code == 404
