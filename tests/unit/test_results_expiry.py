"""Results expire [store] results_ttl seconds after the latest one (the in-memory store)."""

from __future__ import annotations

from actors.store.memory import memory_stores


def test_a_result_list_with_a_ttl_is_forgotten_when_its_time_is_up(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("actors.store.memory.time.monotonic", lambda: clock[0])
    results = memory_stores().results
    assert results.append_list("e1", b"one", max_bytes=100, ttl=60)
    assert results.append_list("e2", b"kept", max_bytes=100)            # no ttl: kept
    clock[0] += 59
    assert results.append_list("e1", b"two", max_bytes=100, ttl=60)    # the latest one restarts the clock
    clock[0] += 59
    assert results.pop_list("e1") == b"one"
    clock[0] += 2
    assert results.pop_list("e1") is None
    assert results.append_list("e1", b"x" * 100, max_bytes=100, ttl=60)  # its size went with it
    assert results.pop_list("e2") == b"kept"
