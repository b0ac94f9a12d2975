"""An actor image written for Abaco with agavepy 0.9.5, unchanged (abaco/agavepy:local).

Its code calls only agavepy's actor module: get_binary_message, get_context,
send_python_result (cloudpickle) and update_state. The results are read back with
cloudpickle, as agavepy's own client does.
"""

from __future__ import annotations

import hashlib
import os

import cloudpickle
import pytest

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
