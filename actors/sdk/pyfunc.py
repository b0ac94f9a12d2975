"""Run one pickled Python call per execution: the program of the ``abaco/pyfunc:local`` image.

The message is the binary (``application/octet-stream``) cloudpickle of a dict
``{"func": f, "args": (...), "kwargs": {...}}``, the format Abaco's own executor sends. The
runner calls ``f(*args, **kwargs)`` and sends one result through the results socket: the
cloudpickle of the return value, as Abaco's ``send_python_result`` does. When the call
raises (or its value cannot be pickled or sent), the one result is instead a *failure*
dict (see :func:`failure`) holding the exception, pickled when it can be, its type and
message, and the formatted remote traceback; the runner then exits with status 1, so the
execution's record shows the failure (``exit_code`` 1; as in Abaco, an execution whose
container exits non-zero is still COMPLETE: ERROR means the platform ended it).

The module needs only the standard library and cloudpickle, both in the image;
:func:`actors.sdk.executor` reads the same failure dict on the client.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

# The key that marks a result as a failure rather than a return value.
FAILURE = "__abaco_pyfunc_failure__"


def failure(exc: BaseException) -> dict:
    """The failure dict of ``exc``: enough to raise it again on the client with its traceback."""
    import cloudpickle
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        pickled: bytes | None = cloudpickle.dumps(exc)
        cloudpickle.loads(pickled)        # an exception whose class cannot be rebuilt travels by name
    except Exception:  # noqa: BLE001 - any exception may fail to pickle in its own way
        pickled = None
    return {FAILURE: 1, "type": f"{type(exc).__module__}.{type(exc).__qualname__}", "message": str(exc),
            "traceback": text, "exception": pickled}


def is_failure(value: Any) -> bool:
    return isinstance(value, dict) and value.get(FAILURE) == 1


def run(data: bytes) -> tuple[bytes, int]:
    """Call the pickled ``{func, args, kwargs}`` in ``data``: (the result to send, the exit status)."""
    import cloudpickle
    try:
        call = cloudpickle.loads(data)
        if not isinstance(call, dict) or not callable(call.get("func")):
            raise TypeError("the message is not a pickled {'func': callable, 'args': ..., 'kwargs': ...} dict")
        value = call["func"](*(call.get("args") or ()), **(call.get("kwargs") or {}))
    except BaseException as exc:  # noqa: BLE001 - whatever the function raises goes back to the caller
        return cloudpickle.dumps(failure(exc)), 1
    try:
        return cloudpickle.dumps(value), 0
    except Exception as exc:  # noqa: BLE001 - an unpicklable return value
        return cloudpickle.dumps(failure(TypeError(f"the return value cannot be pickled: {exc}"))), 1


def main() -> int:
    import cloudpickle

    from actors.sdk.actor import SDKError, get_binary_message, send_bytes_result
    try:
        data = get_binary_message()
    except SDKError as exc:
        result, code = cloudpickle.dumps(failure(exc)), 2
    else:
        result, code = run(data)
    try:
        send_bytes_result(result)
    except SDKError as exc:            # too large for one datagram: say so instead
        print(f"the result could not be sent: {exc}", file=sys.stderr)
        send_bytes_result(cloudpickle.dumps(failure(exc)))
        code = 1
    if code:
        failed = cloudpickle.loads(result)
        print(failed.get("traceback") if is_failure(failed) else "failed", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
