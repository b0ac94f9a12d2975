"""What a link forwards, the hop count it carries and where a chain stops.

No service runs here: the events process and the worker get ``store/memory.py`` and
``stub_broker.StubBroker`` in place of Redis and RabbitMQ, as in test_process_decisions.py.
"""

from __future__ import annotations

import logging

import pytest

from actors import channels, fields, links, models
from actors import config as config_mod
from actors.codes import ActorStatus, ExecutionStatus, WorkerStatus
from actors.errors import BadRequestError
from actors.message import Message
from actors.runtime.stub import StubRuntime
from actors.services.events import Events
from actors.services.worker import Worker


def an_actor(stores, **changes) -> dict:
    actor = models.new_actor(fields.validate({"image": "abaco/echo:local", **changes}), "alice", "default", 2)
    actor["status"] = ActorStatus.READY
    stores.actors.put(actor["id"], actor)
    return actor


def an_execution(stores, actor, link_depth: int = 0) -> dict:
    execution = models.new_execution(actor, "alice", "str", 2)
    if link_depth:
        execution["link_depth"] = link_depth
    execution["status"] = ExecutionStatus.COMPLETE
    stores.executions.put(execution["id"], execution, group=actor["id"])
    return execution


def sent_to(config, broker, actor) -> list[tuple[dict, Message]]:
    """The messages queued for ``actor``: JSON body and the message rebuilt as a worker would."""
    return [(p.json(), Message.from_amqp(p.headers, p.body))
            for p in broker.queues.get(channels.actor_queue(config, actor["id"]), [])]


def complete(actor, execution, **extra) -> dict:
    return {"event_type": "EXECUTION_COMPLETE", "actor_id": actor["id"], "execution_id": execution["id"],
            "status": "COMPLETE", "exit_code": 0, **extra}


# ---------------------------------------------------------------- the field

def test_link_events_defaults_to_execution_complete_and_takes_known_events_only():
    assert models.new_actor(fields.validate({"image": "x/y"}), "a", "t", 1)["link_events"] == ["EXECUTION_COMPLETE"]
    assert fields.validate({"image": "x/y", "linkEvents": ["execution_started", "ACTOR_READY", "ACTOR_READY"]}) \
        == {"image": "x/y", "link_events": ["EXECUTION_STARTED", "ACTOR_READY"]}
    assert fields.validate({"link_events": "ACTOR_ERROR, EXECUTION_COMPLETE"}, partial=True) \
        == {"link_events": ["ACTOR_ERROR", "EXECUTION_COMPLETE"]}
    assert fields.validate({"link_events": []}, partial=True) == {"link_events": []}
    with pytest.raises(BadRequestError, match="'link_events' names 'EXECUTION_DONE', which is not an event"):
        fields.validate({"image": "x/y", "link_events": ["EXECUTION_COMPLETE", "EXECUTION_DONE"]})
    with pytest.raises(BadRequestError, match="list of event names"):
        fields.validate({"image": "x/y", "link_events": {"EXECUTION_COMPLETE": True}})
    with pytest.raises(BadRequestError, match="list of event names"):
        fields.validate({"image": "x/y", "link_events": ["EXECUTION_COMPLETE", 3]})


def test_link_events_refuses_both_execution_events_which_would_double_each_hop():
    with pytest.raises(BadRequestError, match="only one of EXECUTION_STARTED and EXECUTION_COMPLETE"):
        fields.validate({"image": "x/y", "link_events": ["EXECUTION_STARTED", "EXECUTION_COMPLETE"]})


def test_forwards_reads_the_actors_link_events_and_defaults_for_old_records():
    old = {"id": "a", "link": "b"}                     # saved before link_events existed
    assert links.forwards(old, "EXECUTION_COMPLETE")
    assert not links.forwards(old, "EXECUTION_STARTED") and not links.forwards(old, "ACTOR_READY")
    assert links.forwards({**old, "link_events": ["EXECUTION_STARTED"]}, "EXECUTION_STARTED")
    assert not links.forwards({**old, "link_events": ["EXECUTION_STARTED"]}, "EXECUTION_COMPLETE")
    assert not links.forwards({**old, "link_events": []}, "EXECUTION_COMPLETE")
    assert not links.forwards({"id": "a", "link": ""}, "EXECUTION_COMPLETE")


def test_depth_of_an_event_is_the_larger_of_the_workers_count_and_the_records():
    assert links.depth_of({}, None) == 0
    assert links.depth_of({"link_depth": 3}, None) == 3
    assert links.depth_of({"link_depth": 1}, {"link_depth": 4}) == 4
    assert links.depth_of({"link_depth": "x"}, {"link_depth": -2}) == 0
    assert links.within_depth(10, 10) and not links.within_depth(11, 10)


def test_link_max_depth_is_read_from_the_config_and_may_not_be_negative(tmp_path):
    env = {"ABACO_GENERAL_DATA_DIR": str(tmp_path)}
    assert config_mod.load(environ=env).events.link_max_depth == 10
    assert config_mod.load(environ={**env, "ABACO_EVENTS_LINK_MAX_DEPTH": "3"}).events.link_max_depth == 3
    with pytest.raises(config_mod.ConfigError, match="link_max_depth"):
        config_mod.load(environ={**env, "ABACO_EVENTS_LINK_MAX_DEPTH": "-1"})


def test_message_headers_carry_the_link_depth():
    message = Message("e1", b"{}", "application/json", "alice", link_depth=4)
    assert Message.from_amqp(message.headers(), b"{}").link_depth == 4
    assert Message.from_bytes(message.to_bytes()).link_depth == 4
    assert Message.from_amqp({"execution_id": "e1"}, b"").link_depth == 0          # sent before the field
    assert Message.from_amqp({"link_depth": "junk"}, b"").link_depth == 0


# ---------------------------------------------------------------- the events process

def test_one_execution_forwards_only_execution_complete_with_depth_one(config, stores, broker):
    last = an_actor(stores)
    first = an_actor(stores, link=last["id"])
    execution = an_execution(stores, first)
    events = Events(config, stores, broker)
    events.deliver({"event_type": "EXECUTION_STARTED", "actor_id": first["id"], "execution_id": execution["id"],
                    "worker_id": "w", "link_depth": 0})
    events.deliver({"event_type": "ACTOR_READY", "actor_id": first["id"]})
    assert sent_to(config, broker, last) == []
    events.deliver(complete(first, execution, link_depth=0))
    [(body, message)] = sent_to(config, broker, last)
    assert body["event_type"] == "EXECUTION_COMPLETE" and body["execution_id"] == execution["id"]
    assert body["_abaco_link_depth"] == 1 and "link_depth" not in body
    assert message.link_depth == 1 and message.executor == "alice"
    assert stores.executions.get(message.execution_id)["link_depth"] == 1


def test_the_chosen_link_events_are_forwarded_instead(config, stores, broker):
    last = an_actor(stores)
    first = an_actor(stores, link=last["id"], link_events=["EXECUTION_STARTED", "ACTOR_ERROR"])
    execution = an_execution(stores, first)
    events = Events(config, stores, broker)
    events.deliver(complete(first, execution))
    events.deliver({"event_type": "EXECUTION_STARTED", "actor_id": first["id"], "execution_id": execution["id"]})
    events.deliver({"event_type": "ACTOR_ERROR", "actor_id": first["id"], "message": "image gone"})
    assert [body["event_type"] for body, _ in sent_to(config, broker, last)] == ["EXECUTION_STARTED", "ACTOR_ERROR"]
    assert [m.link_depth for _, m in sent_to(config, broker, last)] == [1, 1]


def test_an_execution_started_at_depth_d_forwards_depth_d_plus_one(config, stores, broker):
    last = an_actor(stores)
    middle = an_actor(stores, link=last["id"])
    execution = an_execution(stores, middle, link_depth=3)
    Events(config, stores, broker).deliver(complete(middle, execution, link_depth=3))
    [(body, message)] = sent_to(config, broker, last)
    assert body["_abaco_link_depth"] == 4 and message.link_depth == 4
    # A worker that lost the count (an old message) cannot restart the chain: the record keeps it.
    again = an_execution(stores, middle, link_depth=3)
    Events(config, stores, broker).deliver(complete(middle, again, link_depth=0))
    assert sent_to(config, broker, last)[-1][1].link_depth == 4


def test_a_chain_stops_at_link_max_depth_and_says_so(config, stores, broker, caplog):
    config = config.replace(events={"link_max_depth": 2})
    last = an_actor(stores)
    middle = an_actor(stores, link=last["id"])
    events = Events(config, stores, broker)
    at_one = an_execution(stores, middle, link_depth=1)
    events.deliver(complete(middle, at_one, link_depth=1))        # crosses link 2: allowed
    assert [m.link_depth for _, m in sent_to(config, broker, last)] == [2]
    at_two = an_execution(stores, middle, link_depth=2)
    with caplog.at_level(logging.WARNING, logger="events"):
        events.deliver(complete(middle, at_two, link_depth=2))    # would cross link 3
    assert len(sent_to(config, broker, last)) == 1
    note = stores.executions.get(at_two["id"])["link_stopped"]
    assert "link_max_depth is 2" in note and last["id"] in note
    assert any("link_max_depth is 2" in r.getMessage() for r in caplog.records)
    assert "link_stopped" not in stores.executions.get(at_one["id"])


def test_link_max_depth_zero_sends_nothing_through_links(config, stores, broker):
    config = config.replace(events={"link_max_depth": 0})
    last = an_actor(stores)
    first = an_actor(stores, link=last["id"])
    Events(config, stores, broker).deliver(complete(first, an_execution(stores, first)))
    assert sent_to(config, broker, last) == []


def test_webhooks_still_get_every_event(config, stores, broker):
    last = an_actor(stores)
    first = an_actor(stores, link=last["id"], webhook="http://127.0.0.1:9/hook")
    execution = an_execution(stores, first, link_depth=2)
    events = Events(config, stores, broker)
    posted = []
    events._to_webhook = lambda actor, message: posted.append(message)   # no HTTP server in unit tests
    events.deliver({"event_type": "ACTOR_READY", "actor_id": first["id"]})
    events.deliver({"event_type": "EXECUTION_STARTED", "actor_id": first["id"], "execution_id": execution["id"]})
    events.deliver(complete(first, execution))
    assert [m["event_type"] for m in posted] == ["ACTOR_READY", "EXECUTION_STARTED", "EXECUTION_COMPLETE"]
    assert [m["_abaco_link_depth"] for m in posted] == [0, 2, 2]
    assert [b["event_type"] for b, _ in sent_to(config, broker, last)] == ["EXECUTION_COMPLETE"]


# ---------------------------------------------------------------- the worker

class FinishedRun:
    """Stands in for an ExecutionRun (which needs Docker): it has run and left its record."""

    requeue = False

    def __init__(self, message: Message):
        self.message, self.execution_id = message, message.execution_id

    def run(self) -> dict:
        return {"status": "COMPLETE", "exit_code": 0}


def test_worker_passes_the_messages_depth_on_with_execution_complete(config, stores, broker):
    actor = an_actor(stores)
    record = models.new_worker(actor, host_id="local")
    record["status"] = WorkerStatus.BUSY
    stores.workers.put(record["id"], record, group=actor["id"])
    worker = Worker(config, actor["id"], record["id"], stores, broker, StubRuntime(), tree=None)
    message = Message("e1", b"{}", "application/json", "alice", revision=actor["revision"], link_depth=3)
    worker._execute(FinishedRun(Message.from_amqp(message.headers(), message.body)), worker.generation, 7)
    [event] = broker.events
    assert event["event_type"] == "EXECUTION_COMPLETE" and event["link_depth"] == 3
