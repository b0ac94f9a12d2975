"""Bad input gets the right 4xx in the JSON envelope, and nothing is written."""

from __future__ import annotations

import pytest

from actors.store.redis import RedisBackend

pytestmark = pytest.mark.integration


def actor_count(platform) -> int:
    return len(RedisBackend(platform.config).store("actors").keys())


def assert_error(resp, status: int, *words: str):
    assert resp.status_code == status, (resp.status_code, resp.text)
    body = resp.json()
    assert body["status"] == "error"
    assert set(body) == {"status", "message", "result", "version"}
    for word in words:
        assert word in body["message"], body["message"]


@pytest.mark.parametrize("body, words", [
    ({}, ["image"]),
    ({"image": ""}, ["image"]),
    ({"image": "   "}, ["image"]),
    ({"image": "abaco/echo:local", "stateless": "maybe"}, ["stateless", "boolean"]),
    ({"image": "abaco/echo:local", "default_environment": ["A=1"]}, ["default_environment"]),
    ({"image": "abaco/echo:local", "default_environment": {"A": 1}}, ["default_environment", "string"]),
    ({"image": "abaco/echo:local", "default_environment": {"1BAD": "x"}}, ["variable name"]),
    ({"image": "abaco/echo:local", "max_workers": 0}, ["max_workers"]),
    ({"image": "abaco/echo:local", "max_workers": "lots"}, ["max_workers"]),
    ({"image": "abaco/echo:local", "mem_limit": "lots"}, ["mem_limit"]),
    ({"image": "abaco/echo:local", "stateless": False, "max_workers": 3}, ["stateful"]),
])
def test_invalid_actor_is_refused_and_nothing_written(platform, body, words):
    before = actor_count(platform)
    assert_error(platform.request("POST", "/actors", json=body), 400, *words)
    assert actor_count(platform) == before


def test_unknown_fields_are_ignored_and_named(platform):
    # Abaco ignores fields it does not know ([web] strict_fields = true refuses them:
    # tests/integration/test_compat_codes.py).
    resp = platform.request("POST", "/actors", json={"image": "abaco/echo:local", "colour": "blue"})
    assert resp.status_code == 200 and "ignored unknown field(s): colour" in resp.json()["message"]
    assert "colour" not in resp.json()["result"]
    platform.ok("DELETE", f"/actors/{resp.json()['result']['id']}")


def test_unparseable_json_and_non_object(platform):
    before = actor_count(platform)
    assert_error(platform.request("POST", "/actors", data="{not json",
                                  headers={"Content-Type": "application/json"}), 400, "JSON")
    assert_error(platform.request("POST", "/actors", json=["image"]), 400, "object")
    assert_error(platform.request("POST", "/actors", data=b"", headers={"Content-Type": "application/json"}),
                 400, "empty")
    assert actor_count(platform) == before


def test_camel_case_input_is_accepted(platform):
    actor = platform.ok("POST", "/actors", json={"image": "abaco/echo:local", "defaultEnvironment": {"A": "b"},
                                                 "maxWorkers": 1})
    assert actor["default_environment"] == {"A": "b"} and actor["max_workers"] == 1
    platform.ok("DELETE", f"/actors/{actor['id']}")


def test_messages_bad_input(platform):
    actor = platform.register("abaco/echo:local")
    path = f"/actors/{actor['id']}/messages"
    executions = RedisBackend(platform.config).store("executions")
    before = len(executions.group(actor["id"]))
    assert_error(platform.request("POST", path), 400, "message")
    assert_error(platform.request("POST", path, data="{oops", headers={"Content-Type": "application/json"}),
                 400, "JSON")
    too_big = b"x" * (platform.config.web.max_message_bytes + 1)
    assert_error(platform.request("POST", path, data=too_big,
                                  headers={"Content-Type": "application/octet-stream"}), 413, "limit")
    assert_error(platform.request("POST", path, data={"message": "x" * 200_000}), 413, "octet-stream")
    assert_error(platform.request("POST", path, data={"message": "x"}, params={"_abaco_actor_id": "evil"}),
                 400, "_abaco_")
    assert_error(platform.request("POST", path, data={"message": "x"}, params={"1x": "y"}), 400)
    assert len(executions.group(actor["id"])) == before


def test_state_on_stateless_actor_and_bad_state(platform):
    actor = platform.register("abaco/echo:local", wait_ready=False)
    assert_error(platform.request("POST", f"/actors/{actor['id']}/state", json={"a": 1}), 400, "stateless")
    assert_error(platform.request("GET", f"/actors/{actor['id']}/state"), 400, "stateless")
    stateful = platform.ok("POST", "/actors", json={"image": "abaco/echo:local", "stateless": False})
    assert_error(platform.request("POST", f"/actors/{stateful['id']}/state", data="{nope",
                                  headers={"Content-Type": "application/json"}), 400, "JSON")
    assert platform.ok("GET", f"/actors/{stateful['id']}/state")["state"] == {}
    for a in (actor, stateful):
        platform.ok("DELETE", f"/actors/{a['id']}")


def test_unknown_ids_are_404(platform):
    assert_error(platform.request("GET", "/actors/nope"), 404, "nope")
    assert_error(platform.request("POST", "/actors/nope/messages", data={"message": "x"}), 404)
    actor = platform.register("abaco/echo:local", wait_ready=False)
    assert_error(platform.request("GET", f"/actors/{actor['id']}/executions/nope"), 404, "nope")
    assert_error(platform.request("GET", f"/actors/{actor['id']}/executions/nope/logs"), 404)
    assert_error(platform.request("DELETE", f"/actors/{actor['id']}/executions/nope"), 404)
    assert_error(platform.request("GET", "/no/such/path"), 404)
    platform.ok("DELETE", f"/actors/{actor['id']}")


def test_wrong_method_is_405_in_the_envelope(platform):
    assert_error(platform.request("PATCH", "/actors"), 405, "PATCH")
    assert_error(platform.request("DELETE", "/actors"), 405)


def test_auth_required_and_owner_only(platform):
    assert_error(platform.request("GET", "/actors", user=None), 401, "Authorization")
    assert_error(platform.request("GET", "/actors", user=None, headers={"Authorization": "Bearer garbage"}),
                 401, "invalid token")
    assert_error(platform.request("GET", "/actors", user=None, headers={"Authorization": "Basic abc"}), 401)
    actor = platform.register("abaco/echo:local", wait_ready=False)
    # A stranger learns nothing, not even that the actor exists.
    assert_error(platform.request("GET", f"/actors/{actor['id']}", user="mallory"), 404)
    assert_error(platform.request("DELETE", f"/actors/{actor['id']}", user="mallory"), 404)
    assert_error(platform.request("POST", f"/actors/{actor['id']}/messages", user="mallory",
                                  data={"message": "x"}), 404)
    assert actor["id"] not in [a["id"] for a in platform.ok("GET", "/actors", user="mallory")]
    # An admin may read and change anyone's actor.
    assert platform.ok("GET", f"/actors/{actor['id']}", user="root", role="admin")["owner"] == "alice"
    platform.ok("DELETE", f"/actors/{actor['id']}", user="root", role="admin")


def test_expired_token_is_refused(platform):
    from actors import auth
    token = auth.issue_token(platform.config, "alice", "user", ttl=-10)
    assert_error(platform.request("GET", "/actors", user=None, headers={"Authorization": f"Bearer {token}"}),
                 401, "expired")


def test_cors_preflight_and_headers(platform):
    resp = platform.request("OPTIONS", "/actors", user=None,
                            headers={"Origin": "http://example.test", "Access-Control-Request-Method": "POST"})
    assert resp.status_code == 200
    # No origin is allowed by default: a web page cannot read the API's answers.
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert "Access-Control-Allow-Origin" not in platform.request(
        "GET", "/actors", headers={"Origin": "http://example.test"}).headers


def test_plain_users_cannot_register_privileged_actors(platform):
    assert_error(platform.request("POST", "/actors", json={"image": "abaco/echo:local", "privileged": True}),
                 403, "privileged")
    assert_error(platform.request("POST", "/actors", user="lim", role="limited",
                                  json={"image": "abaco/echo:local", "max_workers": 2}), 403, "limited")
