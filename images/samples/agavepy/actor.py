"""Sample actor written for Abaco with agavepy's actor module, as such actors are written.

It answers each message with one python result (cloudpickle) saying what it got: for a
binary message its length and sha256 (read with get_binary_message), for a JSON message
its message_dict (from get_context), for a string the raw message. It then sends a
function as a second result, and counts its executions in the actor's state with
update_state, printing why when the API cannot be reached.
"""

import hashlib
import json

from agavepy.actors import get_binary_message, get_context, send_python_result, update_state


def double(x):
    return 2 * x


def main():
    ctx = get_context()
    kind = ctx["content_type"]
    answer = {"content_type": kind, "execution_id": ctx["execution_id"]}
    if kind == "application/octet-stream":
        data = get_binary_message()
        answer.update(length=len(data), sha256=hashlib.sha256(data).hexdigest())
    elif kind == "application/json":
        answer.update(message_dict=dict(ctx["message_dict"]), parse_log=ctx["raw_message_parse_log"])
    else:
        answer.update(raw_message=ctx["raw_message"])
    try:
        state = json.loads(ctx["state"] or "{}")
        count = state.get("count", 0) if isinstance(state, dict) else 0
        update_state({"count": count + 1})
        answer["state_updated"] = count + 1
    except Exception as exc:  # a stateless actor, or no way to the API
        answer["state_error"] = f"{type(exc).__name__}: {exc}"
    print(f"answer: {answer}")
    send_python_result(answer)
    send_python_result(double)


if __name__ == "__main__":
    main()
