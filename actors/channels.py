"""The named channels, on RabbitMQ through pika.

* command channel ``<instance>.command.<queue>[.on.<labels>]``: API, health -> spawners (start workers)
* actor mailbox ``<instance>.actor.<actor_id>``: API -> that actor's workers
* worker channel ``<instance>.worker.<worker_id>``: stop, new revision, kill an execution
* accounting channel ``<instance>.accounting``: workers -> the accounting process
* clients channel ``<instance>.clients``: spawner, workers, health -> clientg
* events exchange ``<instance>.events`` (topic, routing key = event type)

Queues are durable and messages persistent; publishes wait for the broker's confirm, so
an API that answered 200 knows the message is on disk in RabbitMQ.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import pika
import pika.exceptions

from actors import host_labels, times
from actors.config import Config

log = logging.getLogger(__name__)

CONNECTION_ERRORS = (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError,
                     pika.exceptions.StreamLostError, ConnectionError, OSError)


class ChannelUnavailable(Exception):
    """RabbitMQ could not be reached or refused the publish; nothing was queued."""


def command_queue(config: Config, queue: str = "default", labels: Iterable[str] = ()) -> str:
    """Start commands of actors of ``queue`` that ask for hosts with ``labels`` (actors/host_labels.py)."""
    return f"{config.general.instance}.command.{queue}{host_labels.queue_suffix(labels)}"


def actor_queue(config: Config, actor_id: str) -> str:
    return f"{config.general.instance}.actor.{actor_id}"


def worker_queue(config: Config, worker_id: str) -> str:
    return f"{config.general.instance}.worker.{worker_id}"


def accounting_queue(config: Config) -> str:
    return f"{config.general.instance}.accounting"


def clients_queue(config: Config) -> str:
    return f"{config.general.instance}.clients"


def events_exchange(config: Config) -> str:
    return f"{config.general.instance}.events"


def deliveries_queue(config: Config) -> str:
    """Every event, for the events process to pass on to links and webhooks."""
    return f"{config.general.instance}.events.deliveries"


def connection_parameters(config: Config, name: str | None = None) -> pika.ConnectionParameters:
    r = config.rabbit
    return pika.ConnectionParameters(
        client_properties={"connection_name": name or f"{config.general.instance} pid {os.getpid()}"},
        host=r.host, port=r.port, virtual_host=r.vhost,
        credentials=pika.PlainCredentials(r.user, r.password),
        heartbeat=r.heartbeat, blocked_connection_timeout=30,
        connection_attempts=3, retry_delay=1, socket_timeout=10)


def connect(config: Config, attempts: int = 1, delay: float = 1.0, name: str | None = None) -> pika.BlockingConnection:
    """A new blocking connection, retried with backoff ``attempts`` times.

    ``name`` is what RabbitMQ shows for it (``rabbitmqctl list_connections name``).
    """
    last: Exception | None = None
    for attempt in range(max(1, attempts)):
        try:
            return pika.BlockingConnection(connection_parameters(config, name))
        except CONNECTION_ERRORS as exc:
            last = exc
            if attempt + 1 < attempts:
                time.sleep(min(delay * 2 ** attempt, 10))
    raise ChannelUnavailable(f"RabbitMQ is unreachable at {config.rabbit.host}:{config.rabbit.port}: {last}")


WORKER_QUEUE_EXPIRES_MS = 24 * 3600 * 1000


def declare(channel, name: str) -> None:
    """Declare a durable queue; worker channels vanish a day after their last use.

    Every declaration of one queue must pass the same arguments, so they are decided
    here, from the queue's name, and nowhere else.
    """
    arguments = {"x-expires": WORKER_QUEUE_EXPIRES_MS} if ".worker." in name else None
    channel.queue_declare(queue=name, durable=True, arguments=arguments)


@dataclass
class Delivery:
    """One message taken from a queue, as a consumer's handler sees it."""

    queue: str
    body: bytes
    data: dict[str, Any]          # the body as a JSON object; {} when it is not one
    redelivered: bool             # RabbitMQ gave it out before (its consumer died or put it back)
    headers: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Delivery], None]


def serve(config: Config, consumers: Mapping[str, Handler], stop: threading.Event, prefetch: int = 1,
          on_ready: Callable[[pika.BlockingConnection], None] | None = None, retry_pause: float = 2.0,
          retry_on: tuple[type[BaseException], ...] = (), gate: Callable[[], bool] | None = None) -> None:
    """The one consumer loop: consume ``consumers`` ({queue: handler}) until ``stop`` is set.

    Each message is decoded into a :class:`Delivery` and given to its queue's handler.
    A handler that returns has its message acknowledged. One that raises one of
    ``retry_on`` (a store that is down, a full disk, ...) has it put back on the queue,
    and consuming pauses for ``retry_pause`` seconds. Any other exception is a message
    that can never be handled (or a bug): it is logged with the message and dropped, so
    one bad message cannot block a queue. A lost connection is opened again (with
    backoff) and the queues consumed anew; unacknowledged messages come back then.
    ``on_ready(connection)`` runs after each (re)connection.

    With ``gate``, the queues are consumed only while ``gate()`` is true (checked twice
    a second and before each message): a message that arrives while it is false is put
    back on its queue, after the consumers are cancelled (so it goes to another
    consumer), and consuming starts again once ``gate()`` is true.
    """
    tags: list[str] = []

    def pause(channel) -> None:
        while tags:
            channel.basic_cancel(tags.pop())   # pika puts back what it holds for that consumer

    def resume(channel) -> None:
        tags.extend(channel.basic_consume(queue, consume(queue, handler)) for queue, handler in consumers.items())

    def consume(queue: str, handler: Handler):
        def on_message(channel, method, properties, body: bytes) -> None:
            if gate is not None and not gate():
                pause(channel)
                channel.basic_nack(method.delivery_tag, requeue=True)
                return
            delivery = Delivery(queue=queue, body=body, data=decode_json(body), redelivered=bool(method.redelivered),
                                headers=dict(properties.headers or {}))
            try:
                handler(delivery)
            except retry_on as exc:
                log.warning("a message of %s goes back on the queue (%s); retrying in %ss", queue, exc, retry_pause)
                channel.basic_nack(method.delivery_tag, requeue=True)
                stop.wait(retry_pause)
                return
            except Exception:  # noqa: BLE001 - a message that cannot be handled must not block the queue
                log.exception("dropping a message of %s that could not be handled: %r", queue, body[:500])
            channel.basic_ack(method.delivery_tag)
        return on_message

    while not stop.is_set():
        try:
            conn = connect(config, attempts=30)
            try:
                channel = conn.channel()
                channel.basic_qos(prefetch_count=prefetch)
                tags.clear()
                for queue in consumers:
                    declare(channel, queue)
                if gate is None or gate():
                    resume(channel)
                if on_ready is not None:
                    on_ready(conn)
                while not stop.is_set():
                    if gate is not None:
                        open_ = gate()
                        if open_ and not tags:
                            resume(channel)
                        elif not open_ and tags:
                            pause(channel)
                    conn.process_data_events(time_limit=0.5)
            finally:
                if conn.is_open:
                    conn.close()
        except (ChannelUnavailable, *CONNECTION_ERRORS) as exc:
            log.warning("lost RabbitMQ (%s); reconnecting", exc)
            stop.wait(retry_pause)


class _Lane:
    """One connection and confirming channel, used by one thread at a time."""

    def __init__(self, config: Config):
        self.conn = connect(config, attempts=2)
        self.ch = self.conn.channel()
        self.ch.confirm_delivery()
        self.ch.exchange_declare(events_exchange(config), exchange_type="topic", durable=True)
        # Every event is kept for the events process, even while it is down.
        self.ch.queue_declare(deliveries_queue(config), durable=True)
        self.ch.queue_bind(deliveries_queue(config), events_exchange(config), routing_key="#")


    @property
    def usable(self) -> bool:
        return self.conn.is_open and self.ch.is_open

    def close(self) -> None:
        try:
            if self.conn.is_open:
                self.conn.close()
        except Exception:  # noqa: BLE001 - closing a broken connection may fail any way
            pass


class Broker:
    """A thread-safe publisher and queue manager over a small pool of connections ("lanes").

    Each publish waits for RabbitMQ's confirm. A thread borrows a lane for one operation,
    so up to ``[rabbit] publish_lanes`` threads of a process publish at once and their
    confirms come back together (RabbitMQ writes their messages to disk in one go),
    instead of queueing behind one connection. Lanes are opened when first needed and
    again after a connection is lost.
    """

    def __init__(self, config: Config):
        self.config = config
        self._idle: list[_Lane] = []
        self._cond = threading.Condition()
        self._open = 0                      # lanes borrowed or idle
        self._max = max(1, config.rabbit.publish_lanes)
        self._declared: set[str] = set()    # queues known to exist (declared by any lane)

    def _borrow(self) -> _Lane:
        with self._cond:
            while True:
                while self._idle:
                    lane = self._idle.pop()
                    if lane.usable:
                        return lane
                    lane.close()
                    self._open -= 1
                if self._open < self._max:
                    self._open += 1
                    break
                self._cond.wait()
        try:
            return _Lane(self.config)
        except BaseException:
            with self._cond:
                self._open -= 1
                self._cond.notify()
            raise

    def _give_back(self, lane: _Lane, broken: bool) -> None:
        with self._cond:
            if broken or not lane.usable:
                lane.close()
                self._open -= 1
            else:
                self._idle.append(lane)
            self._cond.notify()

    def _run(self, op):
        """Run ``op(lane)`` on a borrowed lane, on a new connection once if the first one dropped."""
        for attempt in (1, 2):
            lane = self._borrow()
            broken = False
            try:
                return op(lane)
            except pika.exceptions.UnroutableError as exc:
                raise ChannelUnavailable(f"RabbitMQ could not route the message: {exc}") from exc
            except pika.exceptions.NackError as exc:
                raise ChannelUnavailable(f"RabbitMQ refused the message: {exc}") from exc
            except pika.exceptions.ChannelClosedByBroker:
                broken = True
                raise
            except CONNECTION_ERRORS as exc:
                broken = True
                if attempt == 2:
                    raise ChannelUnavailable(f"RabbitMQ is unreachable: {exc}") from exc
            finally:
                self._give_back(lane, broken)

    def publish(self, queue: str, body: bytes, headers: dict | None = None,
                content_type: str | None = None) -> None:
        """Publish persistently to a durable queue and wait for the broker's confirm."""
        props = pika.BasicProperties(delivery_mode=2, headers=headers or {}, content_type=content_type)

        def op(lane: _Lane) -> None:
            for attempt in (1, 2):
                if attempt == 2 or queue not in self._declared:
                    declare(lane.ch, queue)
                    self._declared.add(queue)
                try:
                    lane.ch.basic_publish(exchange="", routing_key=queue, body=body, properties=props,
                                          mandatory=True)
                    return
                except pika.exceptions.UnroutableError:
                    if attempt == 2:
                        raise
                    # Deleted by another process since this one declared it: declare it again.
                    self._declared.discard(queue)
        self._run(op)

    def publish_batch(self, queue: str, messages: list[tuple[bytes, dict, str]]) -> None:
        """Publish ``(body, headers, content_type)`` messages to one queue as one AMQP
        transaction: RabbitMQ routes all of them on commit (persisted, as with a confirm) or
        none. A transaction cannot share a confirming channel, so it has a channel of its own
        on a borrowed lane's connection, closed afterwards."""
        def op(lane: _Lane) -> None:
            ch = lane.conn.channel()
            try:
                ch.tx_select()
                declare(ch, queue)
                for body, headers, content_type in messages:
                    ch.basic_publish(exchange="", routing_key=queue, body=body,
                                     properties=pika.BasicProperties(delivery_mode=2, headers=headers,
                                                                     content_type=content_type))
                ch.tx_commit()
            finally:
                if ch.is_open:
                    ch.close()
        self._run(op)

    def publish_json(self, queue: str, payload: dict) -> None:
        self.publish(queue, json.dumps(payload).encode(), content_type="application/json")

    def publish_event(self, event_type: str, payload: dict) -> None:
        """Emit an event; events with no subscriber are dropped by the exchange."""
        body = json.dumps({"event_type": event_type, "event_time": times.now(), **payload}).encode()

        def op(lane: _Lane) -> None:
            lane.ch.basic_publish(exchange=events_exchange(self.config), routing_key=event_type, body=body,
                             properties=pika.BasicProperties(delivery_mode=2,
                                                             content_type="application/json"))
        try:
            self._run(op)
        except ChannelUnavailable as exc:
            log.warning("event %s not published: %s", event_type, exc)

    def queue_length(self, queue: str) -> int:
        def op(lane: _Lane) -> int:
            try:
                return lane.ch.queue_declare(queue=queue, passive=True).method.message_count
            except pika.exceptions.ChannelClosedByBroker:
                return 0                   # a missing queue; the lane's channel is closed and dropped
        return self._run(op)

    def purge(self, queue: str) -> int:
        def op(lane: _Lane) -> int:
            declare(lane.ch, queue)
            return lane.ch.queue_purge(queue).method.message_count
        return self._run(op)

    def delete_queue(self, queue: str) -> None:
        def op(lane: _Lane) -> None:
            self._declared.discard(queue)
            lane.ch.queue_delete(queue=queue)
        self._run(op)

    def close(self) -> None:
        with self._cond:
            for lane in self._idle:
                lane.close()
            self._open -= len(self._idle)
            self._idle = []


def decode_json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}
