"""Abaco's versioned paths (/actors/v2/..., Tapis' /v3/actors/...) serve the same routes."""

import pytest

from actors import auth
from actors import config as config_mod
from actors.api import create_app
from actors.store.memory import memory_stores
from actors.stub_broker import StubBroker


@pytest.fixture
def client(tmp_path):
    cfg = config_mod.load(environ={"ABACO_GENERAL_DATA_DIR": str(tmp_path)})
    app = create_app(cfg, memory_stores(), StubBroker())
    return app.test_client(), {"Authorization": f"Bearer {auth.issue_token(cfg, 'vera')}"}


@pytest.mark.parametrize("prefix", ["/actors", "/actors/v2", "/v3/actors"])
def test_every_prefix_reaches_the_same_routes(client, prefix):
    http, headers = client
    assert http.get(prefix, headers=headers).get_json()["result"] == []
    made = http.post(prefix, json={"image": "abaco/echo:local"}, headers=headers).get_json()["result"]
    got = http.get(f"{prefix}/{made['id']}", headers=headers).get_json()["result"]
    assert got["id"] == made["id"]
    assert http.get(f"{prefix}/search/actors", headers=headers).status_code == 200


def test_v2_is_no_alias(client):
    http, headers = client
    made = http.post("/actors", json={"image": "abaco/echo:local"}, headers=headers).get_json()["result"]
    resp = http.post("/actors/aliases", json={"alias": "v2", "actor_id": made["id"]}, headers=headers)
    assert resp.status_code == 400 and "reserved" in resp.get_json()["message"]


def test_a_synchronous_message_behind_queued_ones_is_refused_as_in_abaco(client):
    http, headers = client
    made = http.post("/actors", json={"image": "abaco/echo:local"}, headers=headers).get_json()["result"]
    assert http.post(f"/actors/{made['id']}/messages", data={"message": "first"}, headers=headers).status_code == 200
    resp = http.post(f"/actors/{made['id']}/messages?_abaco_synchronous=true", data={"message": "now"}, headers=headers)
    assert resp.status_code == 400
    assert resp.get_json()["message"].startswith("Cannot issue synchronous execution when actor message queue > 0.")
    executions = http.get(f"/actors/{made['id']}/executions", headers=headers).get_json()["result"]
    assert len(executions["executions"]) == 1          # the refused message was not sent
