"""Quotas decided on in-memory stores and the stub broker (the integration tests use the real ones)."""

from __future__ import annotations

import pytest

from actors import channels, lifecycle, mailbox
from actors import config as config_mod
from actors.auth import Identity
from actors.errors import TooManyRequestsError
from actors.store.memory import memory_stores
from actors.stub_broker import StubBroker


class CountingBroker(StubBroker):
    def __init__(self) -> None:
        super().__init__()
        self.length_reads = 0

    def queue_length(self, queue: str) -> int:
        self.length_reads += 1
        return super().queue_length(queue)


def setup(**quotas):
    config = config_mod.load(environ={}).replace(quotas=quotas)
    return config, memory_stores(), CountingBroker()


def test_the_mailbox_takes_exactly_max_queued_messages_and_reads_its_length_only_near_the_cap():
    config, stores, broker = setup(max_queued_messages=100)
    actor = lifecycle.register(config, stores, broker, Identity("ann", "user"), {"image": "x/y"})
    for _ in range(100):
        mailbox.send(config, stores, broker, actor, b"m", "str", "ann")
    with pytest.raises(TooManyRequestsError, match=r"100 messages waiting; the quota is 100 "
                                                   r"\(\[quotas\] max_queued_messages\)"):
        mailbox.send(config, stores, broker, actor, b"m", "str", "ann")
    assert len(stores.executions.group(actor["id"])) == 100        # the refused one wrote nothing
    assert broker.length_reads < 20          # far from the cap at most one read a second; within a tenth, each
    broker.purge(channels.actor_queue(config, actor["id"]))         # the mailbox drained: room again
    mailbox.send(config, stores, broker, actor, b"m", "str", "ann")


def test_actor_and_worker_quotas_count_the_owners_and_spare_admins():
    config, stores, broker = setup(max_actors_per_user=2, max_workers_per_user=3)
    ann, root = Identity("ann", "user"), Identity("root", "admin")
    for _ in range(2):
        lifecycle.register(config, stores, broker, ann, {"image": "x/y"})
    with pytest.raises(TooManyRequestsError, match=r"you own 2 actors.*max_actors_per_user"):
        lifecycle.register(config, stores, broker, ann, {"image": "x/y"})
    lifecycle.register(config, stores, broker, Identity("ann", "user", tenant="other"), {"image": "x/y"})
    with pytest.raises(TooManyRequestsError, match=r"max_workers is 4.*max_workers_per_user"):
        lifecycle.register(config, stores, broker, Identity("bob", "user"), {"image": "x/y", "max_workers": 4})
    for _ in range(4):
        lifecycle.register(config, stores, broker, root, {"image": "x/y", "max_workers": 5})
    assert len(stores.actors.keys()) == 7
