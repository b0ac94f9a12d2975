"""The pyfunc runner (what abaco/pyfunc:local runs) and the executor's reading of its results,
in one process: a call, its value or its exception, and the remote traceback."""

from __future__ import annotations

import cloudpickle
import pytest

from actors.sdk import pyfunc
from actors.sdk.executor import RemoteError, RemoteTraceback, outcome, pack


def divide(a, b=1):
    return a / b


def test_a_call_sends_back_its_value_as_abacos_executor_expects():
    data, code = pyfunc.run(pack(divide, (9,), {"b": 3}))
    assert code == 0 and cloudpickle.loads(data) == 3.0       # a plain cloudpickled value
    assert outcome(data) == (True, 3.0)
    data, code = pyfunc.run(cloudpickle.dumps({"func": lambda: {"k": [1, 2]}}))   # args and kwargs optional
    assert code == 0 and outcome(data) == (True, {"k": [1, 2]})


def test_a_remote_exception_is_raised_again_with_its_remote_traceback():
    data, code = pyfunc.run(pack(divide, (1, 0), {}))
    assert code == 1
    good, exc = outcome(data)
    assert not good and isinstance(exc, ZeroDivisionError)
    assert isinstance(exc.__cause__, RemoteTraceback)
    assert "in divide" in exc.__cause__.text and "ZeroDivisionError" in exc.__cause__.text
    with pytest.raises(ZeroDivisionError) as raised:
        raise exc
    assert raised.value.__cause__.text.startswith("Traceback")


def test_an_exception_that_cannot_travel_arrives_by_name():
    class Unpicklable(Exception):
        def __reduce__(self):
            raise TypeError("no")

    def boom():
        raise Unpicklable("lost class")
    good, exc = outcome(pyfunc.run(pack(boom, (), {}))[0])
    assert not good and isinstance(exc, RemoteError) and "Unpicklable: lost class" in str(exc)
    assert "boom" in exc.__cause__.text


def test_an_unpicklable_value_or_a_bad_message_is_a_failure_not_a_crash():
    import threading
    good, exc = outcome(pyfunc.run(pack(threading.Lock, (), {}))[0])
    assert not good and isinstance(exc, TypeError) and "cannot be pickled" in str(exc)
    good, exc = outcome(pyfunc.run(cloudpickle.dumps({"fn": print}))[0])
    assert not good and isinstance(exc, TypeError) and "func" in str(exc)
    data, code = pyfunc.run(b"not a pickle")
    assert code == 1 and not outcome(data)[0]


def test_system_exit_in_the_call_is_reported_too():
    def leave():
        raise SystemExit(3)
    data, code = pyfunc.run(pack(leave, (), {}))
    good, exc = outcome(data)
    assert code == 1 and not good and isinstance(exc, SystemExit) and exc.code == 3


def test_the_runner_takes_what_agavepys_own_executor_sends():
    """agavepy 0.9.5's AbacoExecutor (Abaco's client) builds the message; the runner answers it
    with what its AbacoAsyncResponse.result() unpickles."""
    from agavepy.actors import AbacoExecutor as AgavepyExecutor

    sent = {}

    class Actors:
        def get(self, actorId):
            return {"status": "READY", "image": "abaco/pyfunc:local"}

        def sendBinaryMessage(self, actorId, message, headers):
            sent.update(message=message, headers=headers)
            return {"executionId": "E1"}

    class Ag:
        actors = Actors()

    AgavepyExecutor(Ag(), actor_id="A1").submit(divide, 10, b=4)
    assert sent["headers"] == {"Content-Type": "application/octet-stream"}
    data, code = pyfunc.run(sent["message"])
    assert code == 0 and cloudpickle.loads(data) == 2.5
