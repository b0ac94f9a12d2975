"""Sample actor: prints its message; counts executions in its state when stateful.

The environment carries the state as a dict for every actor (empty for stateless ones),
so whether the actor is stateful is learnt from the API's answer to update_state.
"""

import os
import sys

from actors.sdk import APIError, SDKError, get_context, update_state


def main() -> int:
    ctx = get_context()
    print(f"Message: {ctx.raw_message}")
    print(f"Content type: {ctx.content_type}")
    print(f"Execution id: {ctx.execution_id}")
    if ctx.message_dict:
        print(f"Message as JSON: {ctx.message_dict}")
    if isinstance(ctx.state, dict):
        count = ctx.state.get("count", 0)
        new_state = dict(ctx.state, count=(count if isinstance(count, int) else 0) + 1)
        try:
            stored = update_state(new_state)
            print(f"State count: {stored.get('count') if isinstance(stored, dict) else stored}")
        except APIError as exc:
            print(f"State not updated (stateless actor?): {exc.message}")
        except SDKError as exc:
            print(f"State not updated: {exc}")
    code = os.environ.get("EXIT_CODE")
    if code:
        print(f"Exiting with code {code}")
        return int(code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
