"""Actor configs: injected into the actors they name, secrets encrypted at rest and never shown."""

from __future__ import annotations

import pytest

from actors.store import open_stores

pytestmark = pytest.mark.integration


def logs_of(platform, actor_id, user="cf-alice"):
    eid = platform.ok("POST", f"/actors/{actor_id}/messages", user=user, data={"message": "x"})["execution_id"]
    platform.wait_execution(actor_id, eid, user=user)
    return platform.ok("GET", f"/actors/{actor_id}/executions/{eid}/logs", user=user)["logs"]


def test_configs_and_secrets(platform):
    stores = open_stores(platform.config)
    actor = platform.register("abaco/echo:local", user="cf-alice")
    other = platform.register("abaco/echo:local", user="cf-alice")
    alias = "cf-" + other["id"].lower()
    platform.ok("POST", "/actors/aliases", user="cf-alice", json={"alias": alias, "actor_id": other["id"]})
    plain = platform.ok("POST", "/actors/configs", user="cf-alice",
                        json={"name": "DATA_BUCKET", "value": "s3://lab", "actors": f"{actor['id']},{alias}"})
    assert plain["value"] == "s3://lab" and "tenant" not in plain
    secret = platform.ok("POST", "/actors/configs", user="cf-alice",
                         json={"name": "API_PASSWORD", "value": "hunter2", "actors": actor["id"], "isSecret": True})
    assert secret["value"] == "********"
    stored = stores.configs.get("default:API_PASSWORD")
    assert "hunter2" not in stored["value"] and stored["encrypted"]
    assert all(c["value"] != "hunter2" for c in platform.ok("GET", "/actors/configs", user="cf-alice"))
    assert platform.ok("GET", "/actors/configs/API_PASSWORD", user="cf-alice")["value"] == "********"
    logs = logs_of(platform, actor["id"])
    assert "DATA_BUCKET=s3://lab" in logs and "API_PASSWORD=hunter2" in logs
    other_logs = logs_of(platform, other["id"])
    assert "DATA_BUCKET=s3://lab" in other_logs and "API_PASSWORD" not in other_logs
    platform.ok("PUT", "/actors/configs/API_PASSWORD", user="cf-alice", json={"value": "correct-horse"})
    assert "API_PASSWORD=correct-horse" in logs_of(platform, actor["id"])
    assert "correct-horse" not in stores.configs.get("default:API_PASSWORD")["value"]


def test_config_rules(platform):
    bob_actor = platform.register("abaco/echo:local", user="cf-bob", wait_ready=False)
    platform.ok("POST", "/actors/configs", user="cf-alice", json={"name": "RULES_X", "value": "1", "actors": ""})
    assert platform.request("POST", "/actors/configs", user="cf-alice",
                            json={"name": "RULES_X", "value": "2", "actors": ""}).status_code == 409
    for bad in ({"name": "1BAD", "value": "v", "actors": ""}, {"name": "MSG", "value": "v", "actors": ""},
                {"name": "OK_NAME", "actors": ""},
                {"name": "OK_NAME", "value": "v", "actors": "", "is_secret": "yes"}):
        assert platform.request("POST", "/actors/configs", user="cf-alice", json=bad).status_code == 400, bad
    # Only into actors the caller may change.
    assert platform.request("POST", "/actors/configs", user="cf-alice",
                            json={"name": "SNEAKY", "value": "v", "actors": bob_actor["id"]}).status_code == 404
    assert platform.request("GET", "/actors/configs/RULES_X", user="cf-bob").status_code == 404
    platform.ok("POST", "/actors/configs/RULES_X/permissions", user="cf-alice", json={"user": "cf-bob", "level": "READ"})
    assert platform.request("GET", "/actors/configs/RULES_X", user="cf-bob").status_code == 200
    assert platform.request("DELETE", "/actors/configs/RULES_X", user="cf-bob").status_code == 403
    platform.ok("DELETE", "/actors/configs/RULES_X", user="cf-alice")
    assert platform.request("GET", "/actors/configs/RULES_X", user="cf-alice").status_code == 404
