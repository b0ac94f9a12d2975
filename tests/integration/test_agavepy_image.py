"""An actor image written for Abaco with agavepy 0.9.5, unchanged (abaco/agavepy:local).

Its code calls only agavepy's actor module: get_binary_message, get_context,
send_python_result (cloudpickle) and update_state. The results are read back with
cloudpickle, as agavepy's own client does.
"""

from __future__ import annotations

import hashlib
import os
import signal

import cloudpickle
import docker
import pytest

from actors.store.redis import RedisBackend

pytestmark = pytest.mark.integration

IMAGE = "abaco/agavepy:local"


def run(platform, actor_id: str, **kw) -> dict:
    eid = platform.ok("POST", f"/actors/{actor_id}/messages", **kw)["execution_id"]
    ex = platform.wait_execution(actor_id, eid)
    logs = platform.ok("GET", f"/actors/{actor_id}/executions/{eid}/logs")["logs"]
    assert ex["status"] == "COMPLETE", (ex, logs)
    return ex


def results(platform, actor_id: str, eid: str) -> list:
    """Every result of an execution, unpickled with cloudpickle."""
    out = []
    while True:
        resp = platform.request("GET", f"/actors/{actor_id}/executions/{eid}/results")
        assert resp.status_code == 200, resp.text
        if not resp.content:
            return out
        out.append(cloudpickle.loads(resp.content))


@pytest.fixture(scope="module")
def actor(platform):
    return platform.register(IMAGE)


def test_a_mebibyte_binary_message_arrives_whole(platform, actor):
    payload = os.urandom(platform.config.web.max_message_bytes)          # 1 MiB
    ex = run(platform, actor["id"], data=payload, headers={"Content-Type": "application/octet-stream"})
    answer, _ = results(platform, actor["id"], ex["id"])
    assert answer["content_type"] == "application/octet-stream"
    assert answer["length"] == len(payload)
    assert answer["sha256"] == hashlib.sha256(payload).hexdigest()


def test_a_python_result_round_trips_through_cloudpickle(platform, actor):
    ex = run(platform, actor["id"], data={"message": "hello agavepy"})
    answer, double = results(platform, actor["id"], ex["id"])
    assert answer["raw_message"] == "hello agavepy" and answer["execution_id"] == ex["id"]
    assert double(21) == 42                       # a function, pickled by value in the container


def test_a_json_message_parses_with_get_context(platform, actor):
    doc = {"name": "x", "numbers": [1, 2.5], "flag": True, "nothing": None, "nested": {"k": "v"}}
    ex = run(platform, actor["id"], json=doc)
    answer, _ = results(platform, actor["id"], ex["id"])
    assert answer["content_type"] == "application/json"
    assert answer["message_dict"] == doc and answer["parse_log"] == ""


def test_update_state_reaches_the_api_over_https_on_the_executions_loopback(platform):
    stateful = platform.register(IMAGE, stateless=False)
    for count in (1, 2):
        ex = run(platform, stateful["id"], data={"message": f"count {count}"})
        answer, _ = results(platform, stateful["id"], ex["id"])
        assert answer.get("state_updated") == count, answer
    assert platform.ok("GET", f"/actors/{stateful['id']}/state")["state"] == {"count": 2}
    # the sandbox that held the execution's network namespace goes with it
    client = docker.from_env()
    labels = [f"abaco.instance={platform.config.general.instance}", f"abaco.execution_id={ex['id']}"]
    platform.wait_for(lambda: not client.containers.list(all=True, filters={"label": labels}),
                      what="the execution's containers to be removed")


def test_a_dead_workers_sandbox_is_removed_by_health(platform):
    actor = platform.register("abaco/sleep:local", stateless=False, default_environment={"SLEEP_SECONDS": "30"})
    eid = platform.ok("POST", f"/actors/{actor['id']}/messages", data={"message": "x"})["execution_id"]
    platform.wait_for(lambda: platform.execution(actor["id"], eid)["status"] == "RUNNING", what="RUNNING")
    worker_id = platform.execution(actor["id"], eid)["worker_id"]
    client = docker.from_env()
    labels = [f"abaco.instance={platform.config.general.instance}", f"abaco.worker_id={worker_id}",
              "abaco.role=relay"]
    [sandbox] = client.containers.list(all=True, filters={"label": labels})
    assert sandbox.attrs["HostConfig"]["NetworkMode"] == "none"
    assert not sandbox.attrs["HostConfig"]["CgroupParent"]          # outside the execution's cgroup
    execution_container = client.containers.get(platform.execution(actor["id"], eid)["container_id"])
    assert execution_container.attrs["HostConfig"]["NetworkMode"] == f"container:{sandbox.id}"
    worker = RedisBackend(platform.config).store("workers").find(worker_id)
    os.kill(worker["pid"], signal.SIGKILL)
    platform.wait_for(lambda: not client.containers.list(all=True, filters={"label": labels}), timeout=120,
                      what="the dead worker's sandbox removed")
    platform.ok("DELETE", f"/actors/{actor['id']}")
