"""Queue a message for an actor: one execution record, then a durable publish.

The API's POST /actors/{id}/messages, the events process (links) and cron all go
through ``send``, so a message is queued the same way whoever sends it: the execution
is written (SUBMITTED) before the message is published, the publish returns only once
RabbitMQ has the message on disk, and if it fails the execution is removed again, so
nothing is half-written.
"""

from __future__ import annotations

import logging
import threading
import time

from actors import channels, commands, models, prepared
from actors.codes import ActorStatus
from actors.config import Config
from actors.errors import TooManyRequestsError
from actors.message import Message
from actors.store import Stores, StoreUnavailable

log = logging.getLogger(__name__)


# Actors seen with a live worker lately (monotonic time): a busy actor's every message
# need not read its workers again; within WORKERS_SEEN_FOR seconds health or the next
# check starts one anyway if it lost them.
WORKERS_SEEN_FOR = 2.0
_seen: dict[str, float] = {}
_seen_lock = threading.Lock()


def _has_workers(stores: Stores, actor_id: str) -> bool:
    now = time.monotonic()
    with _seen_lock:
        if now - _seen.get(actor_id, -WORKERS_SEEN_FOR) < WORKERS_SEEN_FOR:
            return True
    if not commands.live_workers(stores, actor_id):
        return False
    with _seen_lock:
        if len(_seen) > 10000:
            _seen.clear()
        _seen[actor_id] = now
    return True


# The mailbox's length as last read (monotonic time, messages, plus this process's sends
# since): while it was read within QUEUE_SEEN_FOR seconds and stays below the cap by more
# than its headroom (a tenth of the cap), a message need not read it again;
# within the headroom every message reads it.
QUEUE_SEEN_FOR = 1.0
_queued: dict[str, tuple[float, int]] = {}


def headroom(cap: int) -> int:
    return max(1, cap // 10)


def waiting(config: Config, stores: Stores, broker: channels.Broker, actor_id: str) -> int:
    """Messages waiting for the actor: those in its queue, and those its workers hold ahead
    of their running execution (pipelining, actors/prepared.py), which left the queue."""
    return broker.queue_length(channels.actor_queue(config, actor_id)) + prepared.held(stores, actor_id)


def check_queue(config: Config, broker: channels.Broker, actor_id: str, stores: Stores | None = None) -> None:
    """429 when the actor's mailbox already holds ``[quotas] max_queued_messages`` messages."""
    cap = config.quotas.max_queued_messages
    if cap <= 0:
        return
    now = time.monotonic()
    with _seen_lock:
        seen_at, count = _queued.get(actor_id, (-QUEUE_SEEN_FOR, 0))
        if now - seen_at < QUEUE_SEEN_FOR and count + 1 < cap - headroom(cap):
            _queued[actor_id] = (seen_at, count + 1)
            return
    count = waiting(config, stores, broker, actor_id) if stores is not None \
        else broker.queue_length(channels.actor_queue(config, actor_id))
    with _seen_lock:
        if len(_queued) > 10000:
            _queued.clear()
        _queued[actor_id] = (now, count + 1)
    if count >= cap:
        raise TooManyRequestsError(f"actor {actor_id} already has {count} messages waiting; the quota is {cap} "
                                   f"([quotas] max_queued_messages): wait for them to run, or add workers")


def send(config: Config, stores: Stores, broker: channels.Broker, actor: dict, body: bytes, kind: str,
         executor: str, env: dict | None = None, link_depth: int = 0) -> dict:
    """Queue ``body`` for ``actor``; returns the new execution record.

    ``link_depth`` counts the links a message sent by the events process has crossed; it is
    kept on the execution and travels in the message's headers, so the worker passes it on
    with the execution's events. A full mailbox is a TooManyRequestsError (429) and nothing
    is written.
    """
    check_queue(config, broker, actor["id"], stores)
    execution = models.new_execution(actor, executor, kind, len(body))
    if link_depth:
        execution["link_depth"] = link_depth
    message = Message(execution_id=execution["id"], body=body, content_type=kind, executor=executor,
                      env=env or {}, revision=actor["revision"], link_depth=link_depth)
    stores.executions.put(execution["id"], execution, group=actor["id"])
    try:
        broker.publish(channels.actor_queue(config, actor["id"]), body, headers=message.headers(),
                       content_type=kind)
    except channels.ChannelUnavailable:
        stores.executions.delete(execution["id"])
        raise
    # The message is queued now: whatever fails from here must not turn into an error the
    # sender would take for "not accepted". Health restores a missing worker anyway.
    try:
        if actor.get("status") != ActorStatus.SUBMITTED and not _has_workers(stores, actor["id"]):
            commands.ensure_workers(config, stores, broker, actor, 1)
    except (StoreUnavailable, channels.ChannelUnavailable) as exc:
        log.warning("message %s queued, but no worker could be requested for actor %s now: %s",
                    execution["id"], actor["id"], exc)
    return execution
