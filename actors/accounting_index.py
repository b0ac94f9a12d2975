"""The figures of every accounting record, read from the store once per API process.

An accounting record describes a finished execution: its owner, actor, end time and what
it used never change after the accounting process stores it (only its bookkeeping flag
``written`` does). ``GET /accounting`` sums them over a range at every request, so each
API process keeps those few figures of each record it has read, and at each request reads
from the store only the records it has not seen yet (plus the list of keys, one call).
Records deleted from the store drop out because only listed keys are used. The index
stops growing at ``max_entries`` records; past that, records are read at each request.
"""

from __future__ import annotations

import threading
from typing import Callable

from actors import times
from actors.store import Store
from actors.usage import utc_day

FIGURES = ("tenant", "owner", "actor_id", "status", "cpu_ns", "runtime", "memory_peak", "io_bytes")
BATCH = 1000


def end_of(record: dict) -> float:
    """Epoch seconds of a record's end (its recording time when it has none)."""
    return times.epoch(record.get("end_time") or record.get("recorded_time"))


def figures(record: dict) -> dict:
    """What totals need of a record: a small dict, with ``end`` (epoch s) and its UTC ``day``
    (the index adds ``key``, the record's key in the store)."""
    out = {k: record.get(k) for k in FIGURES}
    out["tenant"] = out["tenant"] or "default"
    end = end_of(record)
    out["end"], out["day"] = end, utc_day(end)
    return out


class AccountingIndex:
    """The figures of the accounting store's records, by key, filled as they are first asked for."""

    def __init__(self, store: Store, max_entries: int = 500_000):
        self.store, self.max_entries = store, max_entries
        self._known: dict[str, dict] = {}
        self._lock = threading.Lock()

    def figures_of(self, keys: list[str]) -> list[dict]:
        """The figures of the records under ``keys`` that exist, in the order given."""
        with self._lock:
            missing = [k for k in keys if k not in self._known]
        fresh: dict[str, dict] = {}
        for start in range(0, len(missing), BATCH):
            chunk = missing[start:start + BATCH]
            for key, doc in zip(chunk, self.store.get_many(chunk), strict=True):
                if doc is not None:
                    fresh[key] = dict(figures(doc), key=key)
        with self._lock:
            if len(self._known) + len(fresh) <= self.max_entries:
                self._known.update(fresh)
            known = self._known
            return [f for f in (known.get(k) or fresh.get(k) for k in keys) if f is not None]

    def chosen(self, keys: list[str], keep: Callable[[dict], bool]) -> list[dict]:
        return [f for f in self.figures_of(keys) if keep(f)]
