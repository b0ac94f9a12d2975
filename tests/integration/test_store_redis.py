"""The Redis store on a real Redis: atomic where processes race."""

from __future__ import annotations

import secrets
import threading

import pytest

from actors import config as config_mod
from actors.store import open_stores

pytestmark = pytest.mark.integration


@pytest.fixture
def stores():
    cfg = config_mod.load().replace(general={"instance": "ts" + secrets.token_hex(4)})
    st = open_stores(cfg)
    yield st
    st.backend.flush_instance()
    st.close()


def test_put_get_delete_and_groups(stores):
    s = stores.executions
    for i in range(5):
        s.put(f"e{i}", {"n": i, "nested": {"list": [], "obj": {}}, "big": 2**62 + i}, group="a1")
    s.put("other", {"n": 9}, group="a2")
    assert s.group("a1") == [f"e{i}" for i in range(5)]          # insertion order
    assert s.get("e3") == {"n": 3, "nested": {"list": [], "obj": {}}, "big": 2**62 + 3}
    assert s.delete("e2") is True and s.delete("e2") is False
    assert s.group("a1") == ["e0", "e1", "e3", "e4"]
    assert sorted(s.keys()) == ["e0", "e1", "e3", "e4", "other"]
    with pytest.raises(KeyError):
        s.get("e2")
    assert s.find("e2") is None
    assert [d["n"] for d in s.group_docs("a1")] == [0, 1, 3, 4]


def test_put_many_writes_every_document_in_its_group_in_order(stores):
    s = stores.executions
    s.put("first", {"n": -1}, group="b1")
    s.put_many([(f"m{i}", {"n": i, "empty": []}) for i in range(300)], group="b1")
    assert s.group("b1") == ["first"] + [f"m{i}" for i in range(300)]
    assert s.get("m299") == {"n": 299, "empty": []}


def test_wait_any_wakes_on_the_first_signal_and_leaves_it_for_others(stores):
    assert stores.wait_any_execution(["x1", "x2"], 0.2) is None
    threading.Timer(0.2, stores.execution_done, ("x2",)).start()
    assert stores.wait_any_execution(["x1", "x2"], 30) == "x2"
    assert stores.wait_execution("x2", 0.1) is True          # still there for another waiter


def test_create_refuses_an_existing_key(stores):
    assert stores.actors.create("a", {"v": 1}) is True
    assert stores.actors.create("a", {"v": 2}) is False
    assert stores.actors.get("a") == {"v": 1}


def test_update_keeps_exact_values_and_checks_expectations(stores):
    s = stores.workers
    s.put("w", {"status": "READY", "hints": [], "cpu": 12345678901234567})
    assert s.update("w", {"status": "BUSY"}, expect={"status": "READY"})["status"] == "BUSY"
    assert s.update("w", {"status": "BUSY"}, expect={"status": "READY"}) is None
    assert s.get("w") == {"status": "BUSY", "hints": [], "cpu": 12345678901234567}
    assert s.update("missing", {"a": 1}) is None


def test_compare_and_set_lets_exactly_one_racer_win(stores):
    s = stores.workers
    s.put("w", {"status": "READY"})
    winners = []

    def race(i):
        if s.update("w", {"status": "BUSY", "by": i}, expect={"status": "READY"}) is not None:
            winners.append(i)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(20)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(winners) == 1 and s.get("w")["by"] == winners[0]


def test_concurrent_merges_lose_no_field(stores):
    s = stores.actors
    s.put("a", {})

    def write(i):
        s.update("a", {f"f{i}": i})

    threads = [threading.Thread(target=write, args=(i,)) for i in range(30)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert s.get("a") == {f"f{i}": i for i in range(30)}


def test_blobs_lists_and_limits(stores):
    stores.logs.set("e", b"some logs")
    assert stores.logs.get("e") == b"some logs"
    r = stores.results
    assert r.append_list("e", b"12345", max_bytes=8) is True
    assert r.append_list("e", b"6789", max_bytes=8) is False     # would pass 8 bytes
    assert r.append_list("e", b"678", max_bytes=8) is True
    assert r.pop_list("e") == b"12345" and r.pop_list("e") == b"678" and r.pop_list("e") is None
    r.delete("e")
    stores.logs.delete("e")
    assert stores.logs.get("e") is None


def test_execution_done_signal(stores):
    assert stores.wait_execution("x", 0.2) is False
    threading.Timer(0.3, stores.execution_done, args=("x",)).start()
    assert stores.wait_execution("x", 5) is True
    assert stores.wait_execution("x", 0.1) is True       # stays signalled for late waiters
