"""A message as it travels in an actor's mailbox, and the content types a message may have.

The API (and the events process, for links) builds a ``Message`` and publishes its
body with ``headers()``; the worker rebuilds it with ``from_amqp``. A duplicate delivery
that must wait is kept whole in the store (``to_bytes`` / ``from_bytes``).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

TEXT = "str"                              # a raw string message (form field ``message``)
JSON = "application/json"
BINARY = "application/octet-stream"


def too_large(limit: int) -> str:
    """Abaco's phrase for a message (or body) over the size limit."""
    return f"Message exceeds max content length of: {limit}."


@dataclass
class Message:
    """A message as it travels in the actor's mailbox."""

    execution_id: str
    body: bytes
    content_type: str
    executor: str
    env: dict[str, str] = field(default_factory=dict)
    revision: int = 0
    link_depth: int = 0           # links this message has crossed (0: sent directly, by a user or cron)

    def headers(self) -> dict:
        return {"execution_id": self.execution_id, "content_type": self.content_type,
                "executor": self.executor, "env": json.dumps(self.env), "revision": self.revision,
                "link_depth": self.link_depth}

    def to_bytes(self) -> bytes:
        """The whole message, to keep in the store while its delivery is parked."""
        return json.dumps({"headers": self.headers(), "body": base64.b64encode(self.body).decode()}).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Message":
        doc = json.loads(data)
        return cls.from_amqp(doc["headers"], base64.b64decode(doc["body"]))

    @classmethod
    def from_amqp(cls, headers: dict | None, body: bytes) -> "Message":
        headers = headers or {}
        try:
            env = json.loads(headers.get("env") or "{}")
        except ValueError:
            env = {}
        return cls(execution_id=str(headers.get("execution_id", "")), body=body,
                   content_type=str(headers.get("content_type", "str")),
                   executor=str(headers.get("executor", "")), env=env,
                   revision=int(headers.get("revision") or 0), link_depth=nonneg_int(headers.get("link_depth")))


def message_field(doc: object) -> str | None:
    """The text of a JSON body's ``message`` field, read as a raw string message, as Abaco does
    (agavepy's ``sendMessage(body={"message": "..."})``); None for any other JSON (a JSON message)."""
    if isinstance(doc, dict) and isinstance(doc.get("message"), str) and doc["message"]:
        return doc["message"]
    return None


def nonneg_int(value: object) -> int:
    """A whole number from a header or an event; 0 when it is missing, negative or malformed."""
    try:
        return max(0, int(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0
