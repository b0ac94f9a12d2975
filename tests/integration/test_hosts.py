"""Many compute hosts on the real stack: the registry, GET /admin/hosts, label placement, a full host.

A second spawner process (same Docker engine, another ``[spawner] host_id``, labels
and capacity) stands for a second compute host; the test that kills a whole second
host (its own Docker engine) is tests/faults/test_hosts_failover.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent          # the virtualenv's console scripts

GPU_HOST = {"ABACO_SPAWNER_HOST_ID": "gpu-host", "ABACO_SPAWNER_HOST_LABELS": "gpu,zone=a",
            "ABACO_SPAWNER_MAX_WORKERS_PER_HOST": "1", "ABACO_SPAWNER_HEARTBEAT_INTERVAL": "1"}


def hosts_by_id(platform) -> dict:
    return {h["host_id"]: h for h in platform.ok("GET", "/admin/hosts", user="root", role="admin")}


def test_admins_list_the_hosts_and_nobody_else_may(platform):
    host = platform.config.spawner.host_id
    listing = platform.wait_for(lambda: (lambda h: h if host in h else None)(hosts_by_id(platform)),
                                what="the spawner's host record")
    mine = listing[host]
    assert mine["status"] == "live" and mine["queues"] == ["default"] and mine["labels"] == []
    assert mine["capacity"] == platform.config.spawner.max_workers_per_host and mine["last_heartbeat"]
    # The attack: an ordinary user, a privileged one, and no token at all.
    for role in ("user", "privileged"):
        resp = platform.request("GET", "/admin/hosts", user="mallory", role=role)
        assert resp.status_code == 403, resp.text
        assert resp.json()["status"] == "error" and "admins" in resp.json()["message"]
        assert resp.json()["result"] is None
    assert platform.request("GET", "/admin/hosts", user=None).status_code == 401
    # An admin's nonce opens only its own actor's routes, never the admin ones.
    actor = platform.register("abaco/echo:local", wait_ready=False, user="root", role="admin")
    try:
        nonce = platform.ok("POST", f"/actors/{actor['id']}/nonces", user="root", role="admin",
                            json={"level": "UPDATE"})
        resp = platform.request("GET", "/admin/hosts", user=None, params={"x-nonce": nonce["id"]})
        assert resp.status_code == 403 and resp.json()["result"] is None
    finally:
        platform.request("DELETE", f"/actors/{actor['id']}", user="root", role="admin")


@pytest.fixture
def gpu_host(platform):
    platform.start("spawner-gpu", [str(BIN / "abaco-spawner")], GPU_HOST)
    yield "gpu-host"
    platform.stop("spawner-gpu")


def test_labelled_actors_start_only_on_a_host_with_those_labels_and_a_full_host_takes_no_more(platform, gpu_host):
    actor = platform.register("abaco/echo:local", wait_ready=False, host_labels=["gpu"], max_workers=2)
    assert actor["host_labels"] == ["gpu"]
    try:
        def worker_on_gpu_host():
            workers = platform.ok("GET", f"/actors/{actor['id']}/workers")
            return workers if workers and workers[0]["status"] == "READY" else None
        workers = platform.wait_for(worker_on_gpu_host, timeout=90, what="the gpu actor's worker to start")
        assert [w["host_id"] for w in workers] == [gpu_host]   # never on the platform's unlabelled host
        assert hosts_by_id(platform)[gpu_host]["running_workers"] == 1

        # gpu-host holds max_workers_per_host = 1: a second worker's command waits in its queue.
        platform.ok("POST", f"/actors/{actor['id']}/workers", json={"num": 2})
        from actors import channels
        from actors.channels import Broker
        broker = Broker(platform.config)
        queue = channels.command_queue(platform.config, "default", ["gpu"])
        platform.wait_for(lambda: broker.queue_length(queue) == 1, timeout=30,
                          what="the second start command to wait in the gpu queue")
        statuses = sorted(w["status"] for w in platform.ok("GET", f"/actors/{actor['id']}/workers"))
        assert statuses == ["READY", "REQUESTED"]
        listed = hosts_by_id(platform)[gpu_host]
        assert (listed["labels"], listed["capacity"], listed["running_workers"]) == (["gpu", "zone=a"], 1, 1)

        # Freed capacity (the worker is deleted): the waiting command is taken on gpu-host.
        platform.request("DELETE", f"/actors/{actor['id']}/workers/{workers[0]['id']}")

        def second_started():
            now = platform.ok("GET", f"/actors/{actor['id']}/workers")
            return [w for w in now if w["status"] == "READY" and w["id"] != workers[0]["id"]]
        started = platform.wait_for(second_started, timeout=90, what="the waiting command to start a worker")
        assert started[0]["host_id"] == gpu_host and broker.queue_length(queue) == 0
        broker.close()
    finally:
        platform.request("DELETE", f"/actors/{actor['id']}")


def test_bad_host_labels_are_refused_with_a_clear_error(platform):
    for bad in (["has space"], 5, [f"l{i}" for i in range(7)]):
        resp = platform.request("POST", "/actors", json={"image": "abaco/echo:local", "host_labels": bad})
        assert resp.status_code == 400, resp.text
        assert "host_labels" in resp.json()["message"] and resp.json()["status"] == "error"
    assert not [a for a in platform.ok("GET", "/actors") if a.get("host_labels") == ["has space"]]
