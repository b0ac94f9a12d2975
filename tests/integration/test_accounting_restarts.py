"""The accounting process keeps every record exactly once across kill -9 and duplicates."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time

import pytest

from actors import channels
from actors import config as config_mod
from actors.accounting_files import read_sge
from actors.store import open_stores
from actors.store.redis import RedisBackend

pytestmark = pytest.mark.integration

RECORDS = 300


def synthetic(n: int) -> dict:
    return {"execution_id": f"rx{n:04d}", "actor_id": f"act{n % 3}", "worker_id": "w", "owner": f"user{n % 2}",
            "executor": "x", "tenant": "default", "host": "local", "image": "abaco/echo:local",
            "submit_time": "2026-11-24T10:00:00Z", "start_time": "2026-11-24T10:00:01Z",
            "end_time": "2026-11-24T10:00:02Z", "runtime": 1.0, "exit_code": 0, "cpu_ns": n * 1000,
            "memory_peak": 4096, "io_bytes": n, "status": "COMPLETE", "reason": "", "attempts": 1}


@pytest.fixture
def private(platform, tmp_path):
    """A private instance (own queue, keys and files) for one accounting process at a time."""
    env = dict(platform.env, ABACO_GENERAL_INSTANCE="ra" + secrets.token_hex(3),
               ABACO_GENERAL_DATA_DIR=str(tmp_path))
    config = config_mod.load(environ=env)
    broker = channels.Broker(config)
    yield env, config, broker
    broker.delete_queue(channels.accounting_queue(config))
    broker.close()
    RedisBackend(config).flush_instance()


def start(env, tmp_path) -> subprocess.Popen:
    log = open(tmp_path / "accounting.log", "ab")
    return subprocess.Popen([sys.executable, "-m", "actors.services.accounting"], env=env, stdout=log, stderr=log,
                            start_new_session=True)


def test_kill_9_mid_stream_and_duplicates_lose_nothing_and_double_nothing(private, tmp_path):
    env, config, broker = private
    queue = channels.accounting_queue(config)
    stores = open_stores(config)
    for n in range(RECORDS):
        broker.publish_json(queue, synthetic(n))
        if n % 10 == 0:
            broker.publish_json(queue, synthetic(n))         # a worker re-publishing after a crash
    kills = 0
    proc = start(env, tmp_path)
    try:
        # Kill -9 three times while it works through the queue, restarting each time.
        for target in (60, 150, 240):
            deadline = time.monotonic() + 60
            while len(stores.accounting.keys()) < target and time.monotonic() < deadline:
                assert proc.poll() is None, (tmp_path / "accounting.log").read_text()[-2000:]
                time.sleep(0.005)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
            proc = start(env, tmp_path)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            docs = [d for _, d in stores.accounting.items()]
            if len(docs) == RECORDS and all(d.get("written") for d in docs) and \
                    broker.queue_length(queue) == 0:
                break
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    assert kills == 3
    docs = {k: d for k, d in stores.accounting.items()}
    assert sorted(docs) == [f"rx{n:04d}" for n in range(RECORDS)]
    assert all(d["written"] for d in docs.values())
    assert len({d["job_number"] for d in docs.values()}) == RECORDS
    lines = read_sge(config.accounting_file)
    ids = [r["execution_id"] for r in lines]
    assert len(ids) == RECORDS and sorted(set(ids)) == sorted(docs), "each record once in the SGE file"
    assert sum(r["cpu_ns"] for r in lines) == sum(n * 1000 for n in range(RECORDS))
    csv_rows = config.accounting_csv.read_text().splitlines()
    assert csv_rows[0].startswith("job_number,") and len(csv_rows) == RECORDS + 1
    assert broker.queue_length(queue) == 0


def test_malformed_record_is_dropped_with_a_log_line_not_looped_on(private, tmp_path):
    env, config, broker = private
    queue = channels.accounting_queue(config)
    broker.publish(queue, b"not json")
    broker.publish_json(queue, {"execution_id": "only-an-id"})
    broker.publish_json(queue, synthetic(1))
    proc = start(env, tmp_path)
    stores = open_stores(config)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
                stores.accounting.find("rx0001") or {}).get("written"):
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    assert stores.accounting.keys() == ["rx0001"]
    assert broker.queue_length(queue) == 0
    assert (tmp_path / "accounting.log").read_text().count("dropping a malformed accounting record") == 2
