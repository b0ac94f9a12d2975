"""POST /actors/{id}/messages/batch and POST /actors/{id}/executions/wait, decided on in-memory
stores and the stub broker (tests/integration/test_executor.py uses the real ones)."""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest

from actors import auth, channels, times
from actors import config as config_mod
from actors.api import create_app
from actors.codes import ExecutionStatus
from actors.message import Message
from actors.store.memory import memory_stores
from actors.stub_broker import StubBroker


class Api:
    def __init__(self, tmp_path, **settings):
        env = {"ABACO_GENERAL_DATA_DIR": str(tmp_path), "ABACO_WEB_COMPAT": "http", **settings}
        self.cfg = config_mod.load(environ=env)
        self.stores, self.broker = memory_stores(), StubBroker()
        self.http = create_app(self.cfg, self.stores, self.broker).test_client()

    def headers(self, user="vera", role="user", tenant="default"):
        return {"Authorization": f"Bearer {auth.issue_token(self.cfg, user, role, tenant=tenant)}"}

    def post(self, path, body, user="vera", tenant="default", **kw):
        resp = self.http.post(path, data=json.dumps(body), content_type="application/json",
                              headers=kw.pop("headers", None) or self.headers(user, tenant=tenant), **kw)
        return resp.status_code, resp.get_json()

    def actor(self, user="vera", tenant="default") -> str:
        code, doc = self.post("/actors", {"image": "abaco/echo:local"}, user=user, tenant=tenant)
        assert code == 200, doc
        return doc["result"]["id"]

    def queued(self, actor_id: str) -> list:
        return self.broker.queues.get(channels.actor_queue(self.cfg, actor_id), [])


@pytest.fixture
def api(tmp_path):
    return Api(tmp_path)


def test_a_batch_queues_every_kind_of_message_in_order_each_with_its_execution(api):
    actor = api.actor()
    blob = bytes(range(256))
    code, doc = api.post(f"/actors/{actor}/messages/batch?MODE=fast", {"messages": [
        "plain text", {"message": "hi"}, {"json": {"x": [1, 2]}},
        {"binary": base64.b64encode(blob).decode(), "env": {"MODE": "slow", "N": 3}}]})
    assert code == 200, doc
    ids = doc["result"]["execution_ids"]
    assert len(set(ids)) == 4 and doc["result"]["count"] == 4
    sent = [Message.from_amqp(p.headers, p.body) for p in api.queued(actor)]
    assert [m.execution_id for m in sent] == ids
    assert [(m.content_type, m.body) for m in sent] == [
        ("str", b"plain text"), ("str", b"hi"), ("application/json", b'{"x": [1, 2]}'),
        ("application/octet-stream", blob)]
    assert sent[0].env == {"MODE": "fast"} and sent[3].env == {"MODE": "slow", "N": "3"}
    for eid in ids:
        assert api.stores.executions.get(eid)["status"] == ExecutionStatus.SUBMITTED
    # a bare array is a batch too
    assert api.post(f"/actors/{actor}/messages/batch", [{"message": "a"}])[0] == 200


@pytest.mark.parametrize("bad, words", [
    ({"binary": "not base64!"}, "not valid base64"),
    ({"message": ""}, "non-empty string"),
    ({"json": 1, "message": "two kinds"}, "exactly one of"),
    ({"colour": "red"}, "unknown field(s): colour"),
    (7, "an item is an object"),
    ({"message": "x", "env": {"LD_PRELOAD": "/evil.so"}}, "LD_PRELOAD"),
    ({"json": "x" * 140000}, "MSG environment variable"),
])
def test_one_bad_item_refuses_the_whole_batch_naming_it_and_nothing_is_queued(api, bad, words):
    actor = api.actor()
    code, doc = api.post(f"/actors/{actor}/messages/batch", {"messages": [{"message": "fine"}, bad]})
    assert code in (400, 413), doc
    assert doc["message"].startswith("message 1 of the batch: ") and words in doc["message"]
    assert api.queued(actor) == [] and api.stores.executions.group(actor) == []


def test_a_batch_deeper_than_the_json_depth_is_refused(api):
    actor = api.actor()
    deep = json.loads("[" * 70 + "]" * 70)
    code, doc = api.post(f"/actors/{actor}/messages/batch", [{"json": deep}])
    assert code == 400 and "nested" in doc["message"] and api.queued(actor) == []


def test_a_batch_beyond_the_cap_is_413_and_queues_nothing(tmp_path):
    api = Api(tmp_path, ABACO_WEB_MAX_BATCH_MESSAGES="5")
    actor = api.actor()
    assert api.post(f"/actors/{actor}/messages/batch", ["m"] * 5)[0] == 200
    code, doc = api.post(f"/actors/{actor}/messages/batch", ["m"] * 6)
    assert code == 413 and "max_batch_messages" in doc["message"]
    assert len(api.queued(actor)) == 5


def test_a_batch_that_would_overfill_the_mailbox_is_429_whole(tmp_path):
    api = Api(tmp_path, ABACO_QUOTAS_MAX_QUEUED_MESSAGES="10")
    actor = api.actor()
    assert api.post(f"/actors/{actor}/messages/batch", ["m"] * 8)[0] == 200
    code, doc = api.post(f"/actors/{actor}/messages/batch", ["m"] * 3)
    assert code == 429 and "a batch of 3 would pass it" in doc["message"]
    assert len(api.queued(actor)) == 8 and len(api.stores.executions.group(actor)) == 8


def test_a_broker_failure_ends_every_record_of_the_batch_so_none_runs(api):
    actor = api.actor()
    api.broker.down = True            # RabbitMQ unreachable from the start: nothing is written
    assert api.post(f"/actors/{actor}/messages/batch", ["a", "b", "c"])[0] == 503
    assert api.stores.executions.group(actor) == []

    def refuse(queue, messages):
        raise channels.ChannelUnavailable("the commit was lost")
    api.broker.down = False
    api.broker.publish_batch = refuse   # the records are written, then the transaction fails
    code, doc = api.post(f"/actors/{actor}/messages/batch", ["a", "b", "c"])
    assert code == 503
    records = api.stores.executions.group_docs(actor)
    assert len(records) == 3
    assert all(r["status"] == ExecutionStatus.ERROR and "batch was not accepted" in r["status_message"]
               for r in records)


def test_attack_a_batch_to_another_tenants_or_users_actor_is_refused(api):
    theirs = api.actor(user="mallory", tenant="other")
    code, doc = api.post(f"/actors/{theirs}/messages/batch", ["x"], user="vera")
    assert code == 404 and api.queued(theirs) == []
    private = api.actor(user="owen")
    assert api.post(f"/actors/{private}/messages/batch", ["x"], user="vera")[0] == 404
    assert api.queued(private) == []


def test_attack_a_nonce_sends_single_messages_but_no_batch(api):
    actor = api.actor()
    code, doc = api.post(f"/actors/{actor}/nonces", {"level": "EXECUTE", "max_uses": 2})
    nonce = doc["result"]["id"]
    resp = api.http.post(f"/actors/{actor}/messages?x-nonce={nonce}", data={"message": "one"},
                         headers={"X-Requested-With": "t"})
    assert resp.status_code == 200, resp.get_json()
    resp = api.http.post(f"/actors/{actor}/messages/batch?x-nonce={nonce}", data=json.dumps(["a"] * 50),
                         content_type="application/json")
    assert resp.status_code == 403 and "nonce" in resp.get_json()["message"]
    assert len(api.queued(actor)) == 1


def test_a_batch_is_neither_synchronous_nor_form_encoded(api):
    actor = api.actor()
    assert api.post(f"/actors/{actor}/messages/batch?_abaco_synchronous=true", ["x"])[0] == 400
    resp = api.http.post(f"/actors/{actor}/messages/batch", data={"message": "x"}, headers=api.headers())
    assert resp.status_code == 400 and "application/json" in resp.get_json()["message"]
    assert api.queued(actor) == []


def _end(api: Api, execution_id: str, status=ExecutionStatus.COMPLETE) -> None:
    api.stores.executions.update(execution_id, {"status": status, "finish_time": times.now()})
    api.stores.execution_done(execution_id)


def test_wait_answers_at_once_for_ended_executions_and_when_one_ends(api):
    actor = api.actor()
    ids = api.post(f"/actors/{actor}/messages/batch", ["a", "b", "c"])[1]["result"]["execution_ids"]
    _end(api, ids[0])
    code, doc = api.post(f"/actors/{actor}/executions/wait", {"ids": ids, "timeout": 30})
    assert code == 200 and [e["id"] for e in doc["result"]["finished"]] == [ids[0]]
    assert doc["result"]["pending"] == ids[1:]

    ender = threading.Timer(0.3, _end, (api, ids[2], ExecutionStatus.ERROR))
    ender.start()
    started = time.monotonic()
    code, doc = api.post(f"/actors/{actor}/executions/wait", {"ids": ids[1:], "timeout": 30})
    ender.join()
    assert code == 200 and [e["id"] for e in doc["result"]["finished"]] == [ids[2]]
    assert doc["result"]["finished"][0]["status"] == "ERROR" and doc["result"]["pending"] == [ids[1]]
    assert time.monotonic() - started < 25       # woken by the end, not by the timeout

    code, doc = api.post(f"/actors/{actor}/executions/wait", {"ids": [ids[1]], "timeout": 0.2})
    assert code == 200 and doc["result"] == {"finished": [], "pending": [ids[1]]}


def test_wait_refuses_bad_bodies_and_others_executions(api):
    actor, other = api.actor(), api.actor(user="owen")
    mine = api.post(f"/actors/{actor}/messages/batch", ["a"])[1]["result"]["execution_ids"]
    theirs = api.post(f"/actors/{other}/messages/batch", ["a"], user="owen")[1]["result"]["execution_ids"]
    assert api.post(f"/actors/{actor}/executions/wait", {"ids": []})[0] == 400
    assert api.post(f"/actors/{actor}/executions/wait", {"ids": mine, "timeout": 10**6})[0] == 400
    assert api.post(f"/actors/{actor}/executions/wait", {"ids": mine, "timeout": "soon"})[0] == 400
    code, doc = api.post(f"/actors/{actor}/executions/wait", {"ids": mine + theirs, "timeout": 0})
    assert code == 404 and theirs[0] in doc["message"]
    assert api.post(f"/actors/{other}/executions/wait", {"ids": theirs, "timeout": 0})[0] == 404


def test_a_blocking_wait_holds_a_synchronous_wait_slot(tmp_path):
    api = Api(tmp_path, ABACO_WEB_MAX_SYNC_WAITS_PER_USER="1")
    actor = api.actor()
    ids = api.post(f"/actors/{actor}/messages/batch", ["a", "b"])[1]["result"]["execution_ids"]
    with api.http.application.extensions["abaco"].waits.held("default/vera"):
        code, doc = api.post(f"/actors/{actor}/executions/wait", {"ids": ids, "timeout": 5})
        assert code == 429
        _end(api, ids[0])                              # an ended one needs no slot
        assert api.post(f"/actors/{actor}/executions/wait", {"ids": ids, "timeout": 5})[0] == 200
