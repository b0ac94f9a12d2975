"""The named channels on a real RabbitMQ."""

from __future__ import annotations

import secrets

import pytest

from actors import channels
from actors import config as config_mod

pytestmark = pytest.mark.integration


@pytest.fixture
def setup():
    cfg = config_mod.load().replace(general={"instance": "tc" + secrets.token_hex(4)})
    broker = channels.Broker(cfg)
    yield cfg, broker
    broker.close()


def test_publish_is_durable_and_counted(setup):
    cfg, broker = setup
    queue = channels.actor_queue(cfg, "a1")
    for i in range(3):
        broker.publish(queue, f"m{i}".encode(), headers={"execution_id": f"e{i}"})
    assert broker.queue_length(queue) == 3
    conn = channels.connect(cfg)
    ch = conn.channel()
    method, props, body = ch.basic_get(queue)
    assert body == b"m0" and props.headers["execution_id"] == "e0" and props.delivery_mode == 2
    ch.basic_nack(method.delivery_tag, requeue=True)
    conn.close()
    assert broker.purge(queue) == 3
    assert broker.queue_length(queue) == 0
    broker.delete_queue(queue)


def test_broker_reconnects_after_its_connection_drops(setup):
    cfg, broker = setup
    queue = channels.command_queue(cfg)
    broker.publish_json(queue, {"command": "x"})
    for lane in broker._idle:                     # as if RabbitMQ had dropped every connection
        lane.conn.close()
    broker.publish_json(queue, {"command": "y"})
    assert broker.queue_length(queue) == 2
    broker.delete_queue(queue)


def test_events_without_subscribers_are_dropped_quietly(setup):
    cfg, broker = setup
    broker.publish_event("ACTOR_READY", {"actor_id": "a"})


def test_unreachable_rabbit_is_reported(setup):
    cfg, _ = setup
    bad = cfg.replace(rabbit={"port": "1"})
    with pytest.raises(channels.ChannelUnavailable):
        channels.Broker(bad).publish_json("q", {})


def test_queue_names_carry_the_instance(setup):
    cfg, _ = setup
    inst = cfg.general.instance
    assert channels.command_queue(cfg, "gpu") == f"{inst}.command.gpu"
    assert channels.actor_queue(cfg, "a") == f"{inst}.actor.a"
    assert channels.worker_queue(cfg, "w") == f"{inst}.worker.w"
