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

from actors import channels, commands, models, prepared, times
from actors.codes import ActorStatus, ExecutionStatus
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


def check_queue(config: Config, broker: channels.Broker, actor_id: str, more: int = 1,
                stores: Stores | None = None) -> None:
    """429 when ``more`` messages would take the actor's mailbox past ``[quotas] max_queued_messages``."""
    cap = config.quotas.max_queued_messages
    if cap <= 0:
        return
    now = time.monotonic()
    with _seen_lock:
        seen_at, count = _queued.get(actor_id, (-QUEUE_SEEN_FOR, 0))
        if now - seen_at < QUEUE_SEEN_FOR and count + more < cap - headroom(cap):
            _queued[actor_id] = (seen_at, count + more)
            return
    count = waiting(config, stores, broker, actor_id) if stores is not None \
        else broker.queue_length(channels.actor_queue(config, actor_id))
    with _seen_lock:
        if len(_queued) > 10000:
            _queued.clear()
        _queued[actor_id] = (now, count + more if count + more <= cap else count)
    if count + more > cap:
        batch = f"; a batch of {more} would pass it" if more > 1 else ""
        raise TooManyRequestsError(f"actor {actor_id} already has {count} messages waiting; the quota is {cap} "
                                   f"([quotas] max_queued_messages){batch}: wait for them to run, or add workers")


def send(config: Config, stores: Stores, broker: channels.Broker, actor: dict, body: bytes, kind: str,
         executor: str, env: dict | None = None, link_depth: int = 0) -> dict:
    """Queue ``body`` for ``actor``; returns the new execution record.

    ``link_depth`` counts the links a message sent by the events process has crossed; it is
    kept on the execution and travels in the message's headers, so the worker passes it on
    with the execution's events. A full mailbox is a TooManyRequestsError (429) and nothing
    is written.
    """
    check_queue(config, broker, actor["id"], stores=stores)
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
    _ask_for_a_worker(config, stores, broker, actor, f"message {execution['id']}")
    return execution


def _ask_for_a_worker(config: Config, stores: Stores, broker: channels.Broker, actor: dict, what: str) -> None:
    """After ``what`` was queued: a worker for an actor that has none. The message is queued
    already, so whatever fails here must not turn into an error the sender would take for
    "not accepted"; health restores a missing worker anyway."""
    try:
        if actor.get("status") != ActorStatus.SUBMITTED and not _has_workers(stores, actor["id"]):
            commands.ensure_workers(config, stores, broker, actor, 1)
    except (StoreUnavailable, channels.ChannelUnavailable) as exc:
        log.warning("%s queued, but no worker could be requested for actor %s now: %s", what, actor["id"], exc)


def send_batch(config: Config, stores: Stores, broker: channels.Broker, actor: dict,
               items: list[tuple[bytes, str, dict]], executor: str) -> list[dict]:
    """Queue every ``(body, kind, env)`` of ``items`` for ``actor``, all or none; returns the
    execution records in the items' order.

    The records are written (SUBMITTED) first, then the messages are published as one AMQP
    transaction (``Broker.publish_batch``): RabbitMQ queues all of them or none. When the
    publish fails, every record is ended as ERROR (only while still SUBMITTED, and waiters
    are woken), so a message that did reach the queue in a commit whose answer was lost is
    skipped by the worker that takes it; the caller sees the failure (503) and nothing runs.
    """
    check_queue(config, broker, actor["id"], more=len(items), stores=stores)
    executions: list[dict] = []
    messages: list[tuple[bytes, dict, str]] = []
    for body, kind, env in items:
        execution = models.new_execution(actor, executor, kind, len(body))
        message = Message(execution_id=execution["id"], body=body, content_type=kind, executor=executor,
                          env=env or {}, revision=actor["revision"])
        executions.append(execution)
        messages.append((body, message.headers(), kind))
    try:
        stores.executions.put_many([(e["id"], e) for e in executions], group=actor["id"])
        broker.publish_batch(channels.actor_queue(config, actor["id"]), messages)
    except (channels.ChannelUnavailable, StoreUnavailable):
        _refuse(stores, [e["id"] for e in executions])
        raise
    _ask_for_a_worker(config, stores, broker, actor, f"a batch of {len(items)} messages")
    return executions


def _refuse(stores: Stores, execution_ids: list[str]) -> None:
    """End the records of a batch that was not accepted, so none of its messages runs."""
    try:
        for execution_id in execution_ids:
            done = stores.executions.update(execution_id, {
                "status": ExecutionStatus.ERROR, "finish_time": times.now(),
                "status_message": "its batch was not accepted (the message broker failed); it never ran"},
                expect={"status": ExecutionStatus.SUBMITTED})
            if done is not None:
                stores.execution_done(execution_id)
    except StoreUnavailable as exc:
        log.warning("a refused batch's %d executions could not all be ended: %s", len(execution_ids), exc)
