"""Abaco's shapes: _links on every record (absolute, on the request's host), worker and nonce
fields, search answers; in snake and camel case (in-memory stores, stub broker)."""

import pytest

from actors import auth
from actors import config as config_mod
from actors.api import create_app
from actors.store.memory import memory_stores
from actors.stub_broker import StubBroker

HOST = "abaco.example.org:8443"


def make_client(tmp_path, case="snake"):
    cfg = config_mod.load(environ={"ABACO_GENERAL_DATA_DIR": str(tmp_path), "ABACO_WEB_CASE": case})
    stores = memory_stores()
    app = create_app(cfg, stores, StubBroker())
    headers = {"Authorization": f"Bearer {auth.issue_token(cfg, 'vera')}", "Host": HOST}
    return app.test_client(), headers, stores


@pytest.fixture
def client(tmp_path):
    return make_client(tmp_path)


def register(http, headers, prefix="/actors"):
    resp = http.post(prefix, json={"image": "abaco/echo:local"}, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["result"]


def test_actor_links_are_absolute_on_the_request_host(client):
    http, headers, _ = client
    actor = register(http, headers)
    base = f"http://{HOST}"
    assert actor["_links"] == {"self": f"{base}/actors/{actor['id']}",
                               "owner": f"{base}/profiles/v2/vera",
                               "executions": f"{base}/actors/{actor['id']}/executions"}
    listed = http.get("/actors/v2", headers=headers).get_json()["result"]
    assert listed[0]["_links"] == actor["_links"]


def test_forwarded_proto_is_believed_only_from_a_trusted_proxy(client):
    http, headers, _ = client
    actor = register(http, headers)
    proxied = http.get(f"/actors/{actor['id']}", headers=dict(headers, **{"X-Forwarded-Proto": "https"}),
                       environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_json()["result"]
    assert proxied["_links"]["self"] == f"https://{HOST}/actors/{actor['id']}"
    stranger = http.get(f"/actors/{actor['id']}", headers=dict(headers, **{"X-Forwarded-Proto": "https"}),
                        environ_base={"REMOTE_ADDR": "10.1.2.3"}).get_json()["result"]
    assert stranger["_links"]["self"] == f"http://{HOST}/actors/{actor['id']}"


def test_execution_links(client):
    http, headers, _ = client
    actor = register(http, headers)
    sent = http.post(f"/actors/{actor['id']}/messages", data={"message": "hi"}, headers=headers).get_json()
    eid = sent["result"]["execution_id"]
    execution = http.get(f"/actors/{actor['id']}/executions/{eid}", headers=headers).get_json()["result"]
    own = f"http://{HOST}/actors/{actor['id']}/executions/{eid}"
    assert execution["_links"]["self"] == own
    assert execution["_links"]["logs"] == f"{own}/logs"
    assert execution["_links"]["owner"] == f"http://{HOST}/profiles/v2/vera"
    listing = http.get(f"/actors/{actor['id']}/executions", headers=headers).get_json()["result"]
    assert listing["_links"]["self"] == f"http://{HOST}/actors/{actor['id']}/executions"


def test_a_new_actor_lists_its_requested_worker_at_once(client):
    http, headers, _ = client
    actor = register(http, headers)
    workers = http.get(f"/actors/{actor['id']}/workers", headers=headers).get_json()["result"]
    assert len(workers) == 1
    worker = workers[0]
    assert worker["status"] == "REQUESTED"
    for key in ("id", "status", "image", "location", "cid", "ch_name", "tenant", "last_execution_time",
                "last_health_check_time", "create_time"):
        assert key in worker, key
    assert worker["cid"] == worker["id"]            # no container yet: the worker's own id
    assert worker["image"] == "abaco/echo:local" and worker["tenant"] == "default"
    assert worker["_links"]["self"] == f"http://{HOST}/actors/{actor['id']}/workers/{worker['id']}"
    one = http.get(f"/actors/v2/{actor['id']}/workers/{worker['id']}", headers=headers)
    assert one.status_code == 200 and one.get_json()["result"]["id"] == worker["id"]
    missing = http.get(f"/actors/{actor['id']}/workers/nope", headers=headers)
    assert missing.status_code == 404 and missing.get_json()["status"] == "error"


def test_a_running_worker_shows_its_container(client):
    http, headers, stores = client
    actor = register(http, headers)
    worker_id = stores.workers.group(actor["id"])[0]
    stores.workers.update(worker_id, {"cid": "c0ffee", "status": "BUSY"})
    worker = http.get(f"/actors/{actor['id']}/workers/{worker_id}", headers=headers).get_json()["result"]
    assert worker["cid"] == "c0ffee"


def test_nonce_fields(client):
    http, headers, _ = client
    actor = register(http, headers)
    made = http.post(f"/actors/{actor['id']}/nonces", json={"level": "READ", "max_uses": 3,
                                                             "description": "for the pipeline"},
                     headers=headers).get_json()["result"]
    for key in ("id", "roles", "level", "max_uses", "remaining_uses", "current_uses", "actor_id", "owner",
                "create_time", "last_use_time", "description"):
        assert key in made, key
    assert made["roles"] == ["user"] and made["actor_id"] == actor["id"] and made["owner"] == "vera"
    assert made["description"] == "for the pipeline"
    assert not {"kind", "object_id", "role", "tenant"} & set(made)
    assert made["_links"]["self"] == f"http://{HOST}/actors/{actor['id']}/nonces/{made['id']}"
    listed = http.get(f"/actors/{actor['id']}/nonces", headers=headers).get_json()["result"]
    assert [n["id"] for n in listed] == [made["id"]]
    bad = http.post(f"/actors/{actor['id']}/nonces", json={"description": ["x"]}, headers=headers)
    assert bad.status_code == 400 and bad.get_json()["status"] == "error"


def test_alias_nonce_names_its_alias(client):
    http, headers, _ = client
    actor = register(http, headers)
    assert http.post("/actors/aliases", json={"alias": "pipe", "actor_id": actor["id"]},
                     headers=headers).status_code == 200
    made = http.post("/actors/aliases/pipe/nonces", json={"level": "READ"}, headers=headers).get_json()["result"]
    assert made["alias"] == "pipe" and "actor_id" not in made
    assert made["_links"]["self"] == f"http://{HOST}/actors/aliases/pipe/nonces/{made['id']}"


@pytest.mark.parametrize("kind", ["actors", "executions", "workers", "logs"])
def test_search_answers_as_abaco(client, kind):
    http, headers, _ = client
    actor = register(http, headers)
    http.post(f"/actors/{actor['id']}/messages", data={"message": "hi"}, headers=headers)
    body = http.get(f"/actors/search/{kind}", headers=headers).get_json()["result"]
    assert set(body) == {"search", "_metadata"}
    assert body["_metadata"] == {"count_returned": 1, "record_limit": 100, "records_skipped": 0, "total_count": 1}
    hit = body["search"][0]
    assert not {"_id", "permissions", "tenant", "exp"} & set(hit)
    assert hit["_links"]["self"].startswith(f"http://{HOST}/actors/{actor['id']}")


def test_camel_case_keeps_links_and_renames_fields(tmp_path):
    http, headers, _ = make_client(tmp_path, case="camel")
    actor = register(http, headers)
    assert set(actor["_links"]) == {"self", "owner", "executions"}
    worker = http.get(f"/actors/{actor['id']}/workers", headers=headers).get_json()["result"][0]
    for key in ("chName", "lastExecutionTime", "lastHealthCheckTime", "createTime", "cid", "tenant"):
        assert key in worker, key
    nonce = http.post(f"/actors/{actor['id']}/nonces", json={"maxUses": 2}, headers=headers).get_json()["result"]
    assert nonce["actorId"] == actor["id"] and nonce["maxUses"] == 2 and nonce["roles"] == ["user"]
    hit = http.get("/actors/search/workers", headers=headers).get_json()["result"]["search"][0]
    assert "_links" in hit and "chName" in hit and "tenant" not in hit


def test_a_json_message_field_is_sent_as_a_raw_string(client):
    """agavepy's sendMessage(body={"message": "..."}) is a string message, as in Abaco."""
    http, headers, stores = client
    actor = register(http, headers)
    raw = http.post(f"/actors/{actor['id']}/messages", json={"message": "hello"}, headers=headers).get_json()
    assert raw["result"]["msg"] == "hello"
    assert stores.executions.find(raw["result"]["execution_id"])["content_type"] == "str"
    doc = http.post(f"/actors/{actor['id']}/messages", json={"x": 1}, headers=headers).get_json()
    assert stores.executions.find(doc["result"]["execution_id"])["content_type"] == "application/json"
