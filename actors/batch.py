"""The body of ``POST /actors/{id}/messages/batch``: many messages in one request.

The body is a JSON array of items, or an object ``{"messages": [items]}``. Each item is
an object with exactly one of

* ``"message"``: a string, a raw string message (what form field ``message`` sends);
* ``"json"``: any JSON value, a JSON message;
* ``"binary"``: the bytes of a binary message, base64-encoded (RFC 4648, standard alphabet);

and optionally ``"env"``: an object of variables for that message only (the query
parameters apply to every item; an item's own ``env`` wins). A bare string item is a raw
string message.

Every item obeys the rules of a single message (size, JSON depth, what travels in ``MSG``),
and ``parse`` checks all of them before anything is sent: the first bad item is a 400 naming
its index, and nothing is queued. At most ``[web] max_batch_messages`` items (413 beyond).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field

from actors import jsondepth
from actors.errors import AbacoError, BadRequestError, PayloadTooLargeError
from actors.message import BINARY, JSON, TEXT, too_large

KINDS = ("message", "json", "binary")


@dataclass
class Item:
    body: bytes
    kind: str                       # TEXT, JSON or BINARY
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Limits:
    max_messages: int               # items in one batch
    max_message_bytes: int          # one message's bytes
    max_env_message: int            # a string or JSON message's bytes (it travels in MSG)
    max_json_depth: int             # 0: no cap


def items_of(raw: bytes, limits: Limits) -> list:
    """The items of a batch body (not yet checked one by one)."""
    # The wrapping ({"messages": [{"json": ...}]}) adds three levels to a JSON message's own.
    jsondepth.check(raw, limits.max_json_depth + 3 if limits.max_json_depth else 0, "the batch")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequestError(f"a batch is a JSON array of messages (or {{\"messages\": [...]}}); "
                              f"the body is not valid JSON: {exc}") from None
    if isinstance(doc, dict) and set(doc) == {"messages"}:
        doc = doc["messages"]
    if not isinstance(doc, list):
        raise BadRequestError("a batch is a JSON array of messages, or an object with only the field "
                              "'messages' holding that array")
    if not doc:
        raise BadRequestError("the batch holds no message")
    if len(doc) > limits.max_messages:
        raise PayloadTooLargeError(f"the batch holds {len(doc)} messages; at most {limits.max_messages} go in one "
                                   f"batch ([web] max_batch_messages): send it in several batches")
    return doc


def item(index: int, raw: object, limits: Limits) -> Item:
    """One item checked by the single-message rules; a 400 (or 413) naming ``index``."""
    try:
        return _item(raw, limits)
    except AbacoError as exc:
        exc.message = f"message {index} of the batch: {exc.message} (nothing was sent)"
        exc.args = (exc.message,)
        raise


def _item(raw: object, limits: Limits) -> Item:
    if isinstance(raw, str):
        raw = {"message": raw}
    if not isinstance(raw, dict):
        raise BadRequestError("an item is an object with one of 'message', 'json' or 'binary' (or a string)")
    unknown = sorted(set(raw) - {*KINDS, "env"})
    given = [k for k in KINDS if k in raw]
    if unknown or len(given) != 1:
        extra = f"; unknown field(s): {', '.join(unknown)}" if unknown else ""
        raise BadRequestError(f"an item has exactly one of 'message', 'json' or 'binary', and optionally "
                              f"'env'{extra}")
    env = raw.get("env") or {}
    if not isinstance(env, dict) or not all(isinstance(v, (str, int, float, bool)) for v in env.values()):
        raise BadRequestError("'env' is an object of variable names to string values")
    env = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in env.items()}
    kind = given[0]
    if kind == "message":
        if not isinstance(raw["message"], str) or not raw["message"]:
            raise BadRequestError("'message' is a non-empty string")
        body, content = raw["message"].encode("utf-8"), TEXT
    elif kind == "json":
        body, content = json.dumps(raw["json"]).encode("utf-8"), JSON
        jsondepth.check(body, limits.max_json_depth, "the JSON message")
    else:
        if not isinstance(raw["binary"], str):
            raise BadRequestError("'binary' is the message's bytes as a base64 string")
        try:
            body = base64.b64decode(raw["binary"], validate=True)
        except (binascii.Error, ValueError):
            raise BadRequestError("'binary' is not valid base64 (standard alphabet, with padding)") from None
        content = BINARY
    if len(body) > limits.max_message_bytes:
        raise PayloadTooLargeError(f"{too_large(limits.max_message_bytes)} The message is {len(body)} bytes.")
    if content != BINARY and len(body) > limits.max_env_message:
        raise PayloadTooLargeError(f"{too_large(limits.max_env_message)} A string or JSON message travels in "
                                   f"the MSG environment variable; send larger data as 'binary'")
    return Item(body=body, kind=content, env=env)
