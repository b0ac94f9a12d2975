"""The Python executor end to end: AbacoExecutor against the real API, RabbitMQ, Docker and the
abaco/pyfunc:local image (cold containers), plus the batch endpoint's all-or-nothing on the
real broker. Kept small (a few dozen executions in all)."""

from __future__ import annotations

import base64
import concurrent.futures
import os
import time

import pytest

from actors.sdk.executor import AbacoExecutor, ExecutionFailed, RemoteTraceback

pytestmark = pytest.mark.integration

USER, ROLE = "exec-user", "privileged"       # privileged: may give the actor two workers


@pytest.fixture(scope="module")
def executor(platform):
    # A memory limit lets a test end an execution in ERROR (killed past its limit) at once.
    ex = AbacoExecutor(url=platform.url, token=platform.token(USER, ROLE), workers=2, mem_limit="96m")
    yield ex
    ex.shutdown(wait=True, cancel_futures=True)


def square(x):
    print(f"squaring {x}")
    return x * x


def test_map_keeps_order_and_futures_carry_id_usage_and_logs(executor, platform):
    assert list(executor.map(square, range(8))) == [x * x for x in range(8)]
    future = executor.submit(square, 12)
    assert future.result(timeout=120) == 144
    assert future.execution_id and future.usage["status"] == "COMPLETE" and future.usage["exit_code"] == 0
    assert future.usage["cpu"] > 0 and future.usage["runtime"] > 0
    assert "squaring 12" in future.logs()
    record = platform.execution(executor.actor_id, future.execution_id, user=USER)
    assert record["status"] == "COMPLETE"


def test_kwargs_closures_and_single_messages(platform):
    with AbacoExecutor(url=platform.url, token=platform.token(USER, ROLE), batch_size=1) as ex:
        offset = 100
        futures = [ex.submit(lambda a, b=0: a + b + offset, i, b=1) for i in range(3)]
        assert [f.result(timeout=120) for f in futures] == [101, 102, 103]
        assert list(ex.map(str.upper, ["a", "b"])) == ["A", "B"]      # batch_size 1: one message each
        actor_id = ex.actor_id
    # the executor registered its actor, and deleted it at shutdown
    assert platform.request("GET", f"/actors/{actor_id}", user=USER).status_code == 404


def fails(n):
    raise ValueError(f"bad input {n}")


def test_a_remote_exception_is_raised_again_with_its_traceback(executor, platform):
    future = executor.submit(fails, 7)
    with pytest.raises(ValueError, match="bad input 7") as raised:
        future.result(timeout=120)
    cause = raised.value.__cause__
    assert isinstance(cause, RemoteTraceback) and "in fails" in cause.text
    # the runner exits 1: the platform's record shows the failure too
    assert future.usage["exit_code"] == 1


def hog():
    return len(b"x" * (400 * 2**20))          # past the actor's 96m: the kernel kills it


def dies():
    os._exit(3)                    # no result, no exception: the container just ends badly


def test_an_execution_ending_in_error_completes_its_future_with_an_error(executor):
    killed, died = executor.submit(hog), executor.submit(dies)
    done, _ = concurrent.futures.wait([killed, died], timeout=120)
    assert done == {killed, died}
    with pytest.raises(ExecutionFailed, match="ended ERROR without a result") as raised:
        killed.result()
    assert raised.value.execution["status"] == "ERROR" and "OOMKilled" in raised.value.execution["status_message"]
    with pytest.raises(ExecutionFailed, match="without a result") as raised:
        died.result()
    assert raised.value.execution["exit_code"] == 3


def test_cancel_force_quits_a_running_execution(executor, platform):
    running = executor.submit(time.sleep, 300)
    platform.wait_for(lambda: platform.execution(executor.actor_id, running.execution_id, user=USER)["status"]
                      == "RUNNING", timeout=120, what="the sleeper to run")
    assert running.cancel() and running.cancelled()
    ended = platform.wait_execution(executor.actor_id, running.execution_id, timeout=90, user=USER)
    assert ended["exit_code"] != 0 and ended["runtime"] < 200       # killed, long before its 300 s
    assert running.cancel() and running.cancelled()          # cancelling again changes nothing
    # a finished future cannot be cancelled
    quick = executor.submit(square, 3)
    assert quick.result(timeout=120) == 9 and not quick.cancel()


def test_batch_is_all_or_nothing_on_the_real_broker(platform):
    actor = platform.register("abaco/pyfunc:local", user=USER)
    path = f"/actors/{actor['id']}/messages/batch"
    good = {"binary": base64.b64encode(b"x").decode()}
    resp = platform.request("POST", path, user=USER, json=[good, good, {"binary": "%%%"}, good])
    assert resp.status_code == 400 and resp.json()["message"].startswith("message 2 of the batch")
    assert platform.ok("GET", f"/actors/{actor['id']}/messages", user=USER)["messages"] == 0
    assert platform.ok("GET", f"/actors/{actor['id']}/executions", user=USER)["total_executions"] == 0
    # attack: another tenant's user cannot batch to it
    resp = platform.request("POST", path, user=USER, tenant="elsewhere", json=[good])
    assert resp.status_code == 404
    ids = platform.ok("POST", path, user=USER, json={"messages": [good, {"message": "text"}]})["execution_ids"]
    # neither is a pickled call: the runner says so, each in its own execution (1: not a pickle,
    # 2: not a binary message)
    assert [platform.wait_execution(actor["id"], eid, user=USER)["exit_code"] for eid in ids] == [1, 2]
    platform.ok("DELETE", f"/actors/{actor['id']}", user=USER)
