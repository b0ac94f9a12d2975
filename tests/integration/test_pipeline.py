"""The whole pipeline on real services: API -> RabbitMQ -> spawner -> worker -> Docker."""

from __future__ import annotations

import ast
import hashlib
import json
import pickle
import time

import docker
import pytest

pytestmark = pytest.mark.integration


def send(platform, actor_id, user="alice", **kw):
    return platform.ok("POST", f"/actors/{actor_id}/messages", user=user, **kw)["execution_id"]


def logs_of(platform, actor_id, execution_id):
    return platform.ok("GET", f"/actors/{actor_id}/executions/{execution_id}/logs")["logs"]


@pytest.fixture(scope="module")
def echo(platform):
    return platform.register("abaco/echo:local", default_environment={"GREETING": "hi", "WHO": "world"})


def test_raw_message_runs_a_container_and_records_everything(platform, echo):
    eid = send(platform, echo["id"], data={"message": "hello actor"}, params={"WHO": "override"})
    ex = platform.wait_execution(echo["id"], eid)
    assert ex["status"] == "COMPLETE", ex
    assert ex["exit_code"] == 0
    assert ex["worker_id"] and ex["start_time"] and ex["finish_time"]
    assert ex["cpu"] > 0, "cpu nanoseconds come from the execution's cgroup"
    assert ex["runtime"] > 0
    assert isinstance(ex["io"], int)
    assert ex["final_state"]["Status"] == "exited"
    logs = logs_of(platform, echo["id"], eid)
    assert "Contents of MSG: hello actor" in logs
    assert "GREETING=hi" in logs                       # default_environment
    assert "WHO=override" in logs                      # query parameter overrides it
    assert f"_abaco_execution_id={eid}" in logs
    assert f"_abaco_actor_id={echo['id']}" in logs
    assert "_abaco_username=alice" in logs
    assert "_abaco_Content_Type=str" in logs


def test_json_message_is_passed_as_json_text(platform, echo):
    doc = {"numbers": [1, 2, 3], "name": "x"}
    eid = send(platform, echo["id"], json=doc)
    ex = platform.wait_execution(echo["id"], eid)
    assert ex["status"] == "COMPLETE"
    assert ex["content_type"] == "application/json"
    logs = logs_of(platform, echo["id"], eid)
    line = next(ln for ln in logs.splitlines() if ln.startswith("Contents of MSG: "))
    assert ast.literal_eval(line[len("Contents of MSG: "):]) == doc   # str() of the value, as Abaco sets MSG
    assert f"_abaco_message_json={json.dumps(doc)}" in logs
    assert "_abaco_Content_Type=application/json" in logs


def test_binary_message_arrives_through_the_fifo(platform):
    actor = platform.register("abaco/binary:local")
    payload = bytes(range(256)) * 4000            # ~1 MB is the default limit; stay under
    payload = payload[:900_000]
    eid = send(platform, actor["id"], data=payload, headers={"Content-Type": "application/octet-stream"})
    ex = platform.wait_execution(actor["id"], eid)
    assert ex["status"] == "COMPLETE", ex
    digest = hashlib.sha256(payload).hexdigest()
    assert digest in logs_of(platform, actor["id"], eid)
    result = platform.request("GET", f"/actors/{actor['id']}/executions/{eid}/results")
    assert result.status_code == 200
    assert result.content.decode() == digest


def test_results_socket_returns_each_result_once(platform):
    actor = platform.register("abaco/result:local")
    eid = send(platform, actor["id"], data={"message": "abc"})
    ex = platform.wait_execution(actor["id"], eid)
    assert ex["status"] == "COMPLETE" and ex["has_results"], ex
    path = f"/actors/{actor['id']}/executions/{eid}/results"
    first = platform.request("GET", path).content
    second = platform.request("GET", path).content
    third = platform.request("GET", path).content
    assert pickle.loads(first) == {"message": "abc", "length": 3}
    assert second == b"result:abc"
    assert third == b""


def test_synchronous_message_returns_logs_or_result(platform, echo):
    resp = platform.request("POST", f"/actors/{echo['id']}/messages", data={"message": "sync please"},
                            params={"_abaco_synchronous": "true"})
    assert resp.status_code == 200
    assert "Contents of MSG: sync please" in resp.text
    eid = resp.headers["X-Abaco-Execution-Id"]
    assert platform.execution(echo["id"], eid)["status"] == "COMPLETE"
    actor = platform.register("abaco/result:local")
    resp = platform.request("POST", f"/actors/{actor['id']}/messages", data={"message": "xy"},
                            params={"_abaco_synchronous": "true"})
    assert pickle.loads(resp.content) == {"message": "xy", "length": 2}


def test_force_quit_stops_a_sleeping_execution_within_seconds(platform):
    actor = platform.register("abaco/sleep:local", default_environment={"SLEEP_SECONDS": "300"})
    eid = send(platform, actor["id"], data={"message": "sleep"})
    platform.wait_for(lambda: platform.execution(actor["id"], eid)["status"] == "RUNNING",
                      what="execution RUNNING")
    time.sleep(1)
    started = time.monotonic()
    resp = platform.request("DELETE", f"/actors/{actor['id']}/executions/{eid}")
    assert resp.status_code == 200, resp.text
    ex = platform.wait_execution(actor["id"], eid, timeout=30)
    elapsed = time.monotonic() - started
    assert ex["status"] == "COMPLETE"
    assert "force-quit" in ex["status_message"]
    assert elapsed < 15, f"force quit took {elapsed:.1f}s"
    # The worker is free again: a second message runs.
    eid2 = send(platform, actor["id"], data={"message": "again"}, params={"SLEEP_SECONDS": "1"})
    assert platform.wait_execution(actor["id"], eid2)["status"] == "COMPLETE"
    # A finished execution cannot be force-quit.
    again = platform.request("DELETE", f"/actors/{actor['id']}/executions/{eid}")
    assert again.status_code == 400 and again.json()["status"] == "error"


def test_stateful_actor_updates_its_state_through_the_sdk(platform):
    actor = platform.register("abaco/pyactor:local", stateless=False)
    assert actor["max_workers"] == 1
    for expected in (1, 2):
        eid = send(platform, actor["id"], data={"message": f"count {expected}"})
        ex = platform.wait_execution(actor["id"], eid)
        assert ex["status"] == "COMPLETE", (ex, logs_of(platform, actor["id"], eid))
        state = platform.ok("GET", f"/actors/{actor['id']}/state")["state"]
        assert state.get("count") == expected, logs_of(platform, actor["id"], eid)
    platform.ok("POST", f"/actors/{actor['id']}/state", json={"count": 10})
    assert platform.ok("GET", f"/actors/{actor['id']}/state")["state"] == {"count": 10}


def test_exit_code_and_stderr_are_recorded(platform):
    actor = platform.register("abaco/pyactor:local", default_environment={"EXIT_CODE": "3"})
    eid = send(platform, actor["id"], data={"message": "fail please"})
    ex = platform.wait_execution(actor["id"], eid)
    assert ex["status"] == "COMPLETE"
    assert ex["exit_code"] == 3


def test_revision_bump_replaces_old_workers(platform):
    actor = platform.register("abaco/echo:local")
    old = {w["id"] for w in platform.ok("GET", f"/actors/{actor['id']}/workers")}
    assert old
    updated = platform.ok("PUT", f"/actors/{actor['id']}", json={"image": "abaco/echo:local", "force": True})
    assert updated["revision"] == actor["revision"] + 1

    def replaced():
        workers = platform.ok("GET", f"/actors/{actor['id']}/workers")
        ids = {w["id"] for w in workers}
        return not (ids & old) and any(w["status"] == "READY" and w["revision"] == updated["revision"]
                                       for w in workers)
    platform.wait_for(replaced, timeout=60, what="old workers replaced by new-revision ones")
    eid = send(platform, actor["id"], data={"message": "after bump"})
    ex = platform.wait_execution(actor["id"], eid)
    assert ex["status"] == "COMPLETE" and ex["revision"] == updated["revision"]


def test_delete_removes_workers_queue_and_containers(platform):
    actor = platform.register("abaco/sleep:local", default_environment={"SLEEP_SECONDS": "300"})
    eid = send(platform, actor["id"], data={"message": "long"})
    platform.wait_for(lambda: platform.execution(actor["id"], eid)["status"] == "RUNNING", what="RUNNING")
    send(platform, actor["id"], data={"message": "queued"})
    resp = platform.request("DELETE", f"/actors/{actor['id']}")
    assert resp.status_code == 200, resp.text
    assert platform.request("GET", f"/actors/{actor['id']}").status_code == 404
    client = docker.from_env()
    label = f"abaco.actor_id={actor['id']}"
    platform.wait_for(lambda: not client.containers.list(all=True, filters={"label": label}),
                      timeout=30, what="actor containers removed")
    from actors.store.redis import RedisBackend
    workers = RedisBackend(platform.config).store("workers")
    platform.wait_for(lambda: not workers.group_docs(actor["id"]), timeout=30, what="worker records removed")
    import pika

    from actors import channels
    conn = channels.connect(platform.config)
    ch = conn.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker):
        ch.queue_declare(channels.actor_queue(platform.config, actor["id"]), passive=True)
    conn.close()


def test_missing_image_puts_the_actor_in_error(platform):
    actor = platform.register("abaco/does-not-exist:local", wait_ready=False)
    got = platform.wait_for(
        lambda: (lambda a: a if a["status"] == "ERROR" else None)(platform.ok("GET", f"/actors/{actor['id']}")),
        what="actor ERROR")
    assert "not found" in got["status_message"]
    resp = platform.request("POST", f"/actors/{actor['id']}/messages", data={"message": "x"})
    assert resp.status_code == 400 and "ERROR" in resp.json()["message"]


def test_queue_length_and_workers_listing(platform, echo):
    result = platform.ok("GET", f"/actors/{echo['id']}/messages")
    assert result["messages"] == 0
    workers = platform.ok("GET", f"/actors/{echo['id']}/workers")
    assert workers and all(w["status"] in ("READY", "BUSY") for w in workers)
    # As in Abaco, a worker record names its tenant and its container (or its own id when idle).
    assert workers[0]["tenant"] == "default" and workers[0]["cid"]
    added = platform.ok("POST", f"/actors/{echo['id']}/workers", json={"num": 2})
    assert added["requested"] == 1
    platform.wait_for(lambda: len([w for w in platform.ok("GET", f"/actors/{echo['id']}/workers")
                                   if w["status"] == "READY"]) == 2, what="two READY workers")


def test_executions_list_has_totals(platform, echo):
    eid = send(platform, echo["id"], data={"message": "count me"})
    platform.wait_execution(echo["id"], eid)
    listing = platform.ok("GET", f"/actors/{echo['id']}/executions")
    assert listing["actor_id"] == echo["id"]
    assert eid in [e["id"] for e in listing["executions"]]
    assert listing["total_executions"] == len(listing["executions"])
    assert listing["total_cpu"] >= platform.execution(echo["id"], eid)["cpu"]


def test_log_truncation(platform, tmp_path):
    image = "abaco-test/noisy:local"
    (tmp_path / "Dockerfile").write_text(
        'FROM abaco/busybox:local\nCMD ["sh", "-c", "i=0; while [ $i -lt 30000 ]; do echo line-$i; i=$((i+1)); done"]\n')
    docker.from_env().images.build(path=str(tmp_path), tag=image, rm=True)
    actor = platform.register(image)
    eid = send(platform, actor["id"], data={"message": "noise"})
    ex = platform.wait_execution(actor["id"], eid)
    limit = platform.config.workers.max_log_length
    logs = logs_of(platform, actor["id"], eid)
    assert ex["logs_truncated"] is True and len(logs) == limit
    assert "truncated" in ex["status_message"]
