"""An in-memory stand-in for ``channels.Broker``, for unit tests of the processes' decisions.

It takes what a process publishes (to queues and as events) and keeps it to be looked
at; with ``down`` set every call raises ChannelUnavailable, as the real broker does when
RabbitMQ cannot be reached. Nothing is consumed from it: a test hands deliveries to a
handler itself. Never used outside tests.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

from actors.channels import ChannelUnavailable


@dataclass
class Published:
    body: bytes
    headers: dict = field(default_factory=dict)
    content_type: str | None = None

    def json(self) -> dict:
        return json.loads(self.body)


class StubBroker:
    def __init__(self) -> None:
        self.queues: dict[str, list[Published]] = {}
        self.events: list[dict] = []
        self.deleted: list[str] = []
        self.down = False
        self._lock = threading.Lock()

    def _check(self) -> None:
        if self.down:
            raise ChannelUnavailable("the stub broker is marked down")

    def publish(self, queue: str, body: bytes, headers: dict | None = None, content_type: str | None = None) -> None:
        self._check()
        with self._lock:
            self.queues.setdefault(queue, []).append(Published(body, dict(headers or {}), content_type))

    def publish_batch(self, queue: str, messages: list[tuple[bytes, dict, str]]) -> None:
        """All or nothing, as the real broker's transaction."""
        self._check()
        with self._lock:
            self.queues.setdefault(queue, []).extend(Published(b, dict(h or {}), c) for b, h, c in messages)

    def publish_json(self, queue: str, payload: dict) -> None:
        self.publish(queue, json.dumps(payload).encode(), content_type="application/json")

    def publish_event(self, event_type: str, payload: dict) -> None:
        if not self.down:            # as the real one: an event that cannot be published is logged, not raised
            self.events.append({"event_type": event_type, **payload})

    def queue_length(self, queue: str) -> int:
        self._check()
        return len(self.queues.get(queue, []))

    def purge(self, queue: str) -> int:
        self._check()
        with self._lock:
            return len(self.queues.pop(queue, []))

    def delete_queue(self, queue: str) -> None:
        self._check()
        with self._lock:
            self.queues.pop(queue, None)
            self.deleted.append(queue)

    def messages(self, queue: str) -> list[dict]:
        """The JSON bodies published to ``queue``, oldest first."""
        return [p.json() for p in self.queues.get(queue, [])]

    def close(self) -> None:
        pass
