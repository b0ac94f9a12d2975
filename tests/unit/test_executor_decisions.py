"""AbacoExecutor's decisions against an in-memory stand-in for the API client: what it
registers, how it batches, that futures complete (in any order) from the wait answers,
and what cancel and shutdown do. tests/integration/test_executor.py runs it for real."""

from __future__ import annotations

import base64
import threading

import cloudpickle
import pytest

from actors.sdk import pyfunc
from actors.sdk.client import ClientError
from actors.sdk.executor import AbacoExecutor, ExecutionFailed


class FakeApi:
    """Runs each call at once in-process; ``hold`` keeps named executions running."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.created: list[dict] = []
        self.deleted: list[str] = []
        self.batches: list[int] = []
        self.records: dict[str, dict] = {}
        self.results: dict[str, bytes] = {}
        self.quit: list[str] = []
        self.busy_waits = 0              # answer this many waits with 429 first
        self.n = 0

    # the Client methods the executor uses
    def create_actor(self, image, **fields):
        self.created.append({"image": image, **fields})
        return {"id": "A1"}

    def wait_ready(self, actor_id, timeout=0):
        return {"id": actor_id, "status": "READY"}

    def add_workers(self, actor_id, num=1):
        return {}

    def delete_actor(self, actor_id):
        self.deleted.append(actor_id)

    def send_message(self, actor_id, binary=None, **_):
        return {"execution_id": self._run(binary)}

    def call(self, method, path, json=None, **_):
        if path.endswith("/messages/batch"):
            self.batches.append(len(json["messages"]))
            ids = [self._run(base64.b64decode(item["binary"])) for item in json["messages"]]
            return {"execution_ids": ids}
        assert path.endswith("/executions/wait")
        with self.lock:
            if self.busy_waits:
                self.busy_waits -= 1
                raise ClientError(429, "busy")
            self.lock.wait_for(lambda: any(self.records[i]["status"] != "RUNNING" for i in json["ids"]), 5)
            finished = [dict(self.records[i]) for i in json["ids"] if self.records[i]["status"] != "RUNNING"]
            return {"finished": finished, "pending": [i for i in json["ids"] if i not in {f["id"] for f in finished}]}

    def get_result(self, actor_id, eid):
        return self.results.pop(eid, b"")

    def get_logs(self, actor_id, eid):
        return f"logs of {eid}"

    def force_quit(self, actor_id, eid):
        with self.lock:
            if self.records[eid]["status"] != "RUNNING":
                raise ClientError(400, "Cannot force quit an execution not in SUBMITTED or RUNNING status.")
            self.quit.append(eid)
            self.end(eid, "COMPLETE", exit_code=137)
        return {}

    # running
    def _run(self, data: bytes) -> str:
        with self.lock:
            self.n += 1
            eid = f"E{self.n}"
            call = cloudpickle.loads(data)
            self.records[eid] = {"id": eid, "status": "RUNNING", "exit_code": None, "cpu": 5}
            if call["args"] and call["args"][0] == "hold":
                return eid
            result, code = pyfunc.run(data)
            self.results[eid] = result
            self.end(eid, "COMPLETE", exit_code=code)
            return eid

    def end(self, eid: str, status: str, **fields) -> None:
        with self.lock:
            self.records[eid].update(status=status, **fields)
            self.lock.notify_all()


def ident(x):
    return x


@pytest.fixture
def api():
    return FakeApi()


def test_registration_passes_warm_only_when_set_and_deletes_its_actor(api):
    with AbacoExecutor(client=api, workers=3, mem_limit="1g"):
        pass
    with AbacoExecutor(client=api, warm=True):
        pass
    assert api.created == [{"image": "abaco/pyfunc:local", "name": "pyfunc-executor", "mem_limit": "1g",
                            "max_workers": 3},
                           {"image": "abaco/pyfunc:local", "name": "pyfunc-executor", "warm": True}]
    assert api.deleted == ["A1", "A1"]
    with AbacoExecutor("me/funcs:1", client=api) as ex:    # an image name as the first argument
        assert ex.actor_id == "A1" and api.created[-1]["image"] == "me/funcs:1"
    assert len(api.created) == 3 and len(api.deleted) == 3
    with AbacoExecutor("existing", client=api) as ex:    # an actor given: nothing registered, nothing deleted
        assert ex.actor_id == "existing"
    assert len(api.created) == 3 and len(api.deleted) == 3


def test_map_batches_keeps_order_and_a_busy_wait_slot_only_delays(api):
    api.busy_waits = 2
    with AbacoExecutor("A1", client=api, batch_size=4) as ex:
        assert list(ex.map(ident, range(10))) == list(range(10))
        assert api.batches == [4, 4, 2]
        ex.batch_size = 1
        assert list(ex.map(ident, "ab")) == ["a", "b"] and api.batches == [4, 4, 2]
        future = ex.submit(ident, 5)
        assert future.result(5) == 5 and future.usage["cpu"] == 5 and future.logs() == f"logs of {future.execution_id}"


def test_futures_complete_in_the_order_executions_end(api):
    with AbacoExecutor("A1", client=api) as ex:
        slow, fast = ex.submit(ident, "hold"), ex.submit(ident, 2)
        assert fast.result(5) == 2 and not slow.done()
        api.results[slow.execution_id] = cloudpickle.dumps("late")
        api.end(slow.execution_id, "COMPLETE", exit_code=0)
        assert slow.result(5) == "late"


def test_an_error_ending_without_a_result_is_an_exception(api):
    with AbacoExecutor("A1", client=api) as ex:
        future = ex.submit(ident, "hold")
        api.end(future.execution_id, "ERROR", exit_code=137, status_message="OOMKilled")
        with pytest.raises(ExecutionFailed, match="ended ERROR without a result.*OOMKilled"):
            future.result(5)


def test_cancel_force_quits_and_shutdown_can_cancel_the_rest(api):
    ex = AbacoExecutor("A1", client=api)
    running = ex.submit(ident, "hold")
    assert running.cancel() and running.cancelled() and api.quit == [running.execution_id]
    assert running.cancel()                       # again: still cancelled, nothing sent
    done = ex.submit(ident, 1)
    assert done.result(5) == 1 and not done.cancel()
    rest = [ex.submit(ident, "hold") for _ in range(3)]
    ex.shutdown(wait=True, cancel_futures=True)
    assert all(f.cancelled() for f in rest) and api.quit[1:] == [f.execution_id for f in rest]
    with pytest.raises(RuntimeError, match="after shutdown"):
        ex.submit(ident, 1)


def test_leaving_map_early_cancels_what_is_not_done(api):
    with AbacoExecutor("A1", client=api, batch_size=10) as ex:
        results = ex.map(ident, [0, "hold", "hold"])
        assert next(results) == 0
        results.close()
        assert len(api.quit) == 2


def test_cancel_that_the_api_refuses_is_false_not_an_exception(api):
    with AbacoExecutor("A1", client=api) as ex:
        future = ex.submit(ident, "hold")

        def down(actor_id, eid):
            raise ClientError(503, "the store is unavailable")
        api.force_quit, real = down, api.force_quit
        assert future.cancel() is False and not future.done()
        api.force_quit = real
        assert future.cancel() and future.cancelled()
