"""An in-memory backend for the Store interface, for unit tests of the processes' decisions.

It keeps the same promises as the Redis backend within one process (atomic writes,
compare-and-set updates, groups in insertion order, blobs with lists) and copies every
document in and out, so a caller can never change a stored document by accident. It is
not shared between processes and keeps nothing across restarts: never a production store.
"""

from __future__ import annotations

import copy
import threading
import time

from actors.store import BlobStore, Store, Stores


class MemoryBackend:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.signals: dict[str, threading.Event] = {}
        self.signalled = threading.Condition(self.lock)
        self.sequences: dict[str, int] = {}
        self.down = False            # set to make every call raise StoreUnavailable

    def store(self, name: str) -> "MemoryStore":
        return MemoryStore(self, name)

    def blobs(self, name: str) -> "MemoryBlobStore":
        return MemoryBlobStore(self)

    def check(self) -> None:
        if self.down:
            from actors.store import StoreUnavailable
            raise StoreUnavailable("the in-memory store is marked down")

    def ping(self) -> None:
        self.check()

    def close(self) -> None:
        pass

    def _event(self, name: str) -> threading.Event:
        with self.lock:
            return self.signals.setdefault(name, threading.Event())

    def signal(self, name: str, ttl: int = 3600) -> None:
        self.check()
        with self.signalled:
            self._event(name).set()
            self.signalled.notify_all()

    def wait_signal(self, name: str, timeout: float) -> bool:
        self.check()
        return self._event(name).wait(timeout)

    def wait_any_signal(self, names: list[str], timeout: float) -> str | None:
        self.check()
        found: list[str] = []

        def any_set() -> bool:
            found[:] = [n for n in names if self._event(n).is_set()][:1]
            return bool(found)
        with self.signalled:
            return found[0] if self.signalled.wait_for(any_set, timeout) else None

    def next_number(self, name: str) -> int:
        self.check()
        with self.lock:
            self.sequences[name] = self.sequences.get(name, 0) + 1
            return self.sequences[name]


class MemoryStore(Store):
    def __init__(self, backend: MemoryBackend, name: str):
        self.backend, self.name = backend, name
        self.docs: dict[str, dict] = {}
        self.groups: dict[str, list[str]] = {}
        self.group_of: dict[str, str] = {}

    def get(self, key: str) -> dict:
        self.backend.check()
        with self.backend.lock:
            return copy.deepcopy(self.docs[key])

    def _write(self, key: str, doc: dict, group: str | None) -> None:
        self.docs[key] = copy.deepcopy(doc)
        if group:
            self.group_of[key] = group
            members = self.groups.setdefault(group, [])
            if key not in members:
                members.append(key)

    def put(self, key: str, doc: dict, group: str | None = None) -> None:
        self.backend.check()
        with self.backend.lock:
            self._write(key, doc, group)

    def create(self, key: str, doc: dict, group: str | None = None) -> bool:
        self.backend.check()
        with self.backend.lock:
            if key in self.docs:
                return False
            self._write(key, doc, group)
            return True

    def update(self, key: str, fields: dict, expect: dict | None = None) -> dict | None:
        self.backend.check()
        with self.backend.lock:
            doc = self.docs.get(key)
            if doc is None or (expect and any(doc.get(k) != v for k, v in expect.items())):
                return None
            doc.update(copy.deepcopy(fields))
            return copy.deepcopy(doc)

    def delete(self, key: str) -> bool:
        self.backend.check()
        with self.backend.lock:
            existed = self.docs.pop(key, None) is not None
            group = self.group_of.pop(key, None)
            if group is not None and key in self.groups.get(group, []):
                self.groups[group].remove(key)
            return existed

    def keys(self) -> list[str]:
        self.backend.check()
        with self.backend.lock:
            return sorted(self.docs)

    def group(self, group: str) -> list[str]:
        self.backend.check()
        with self.backend.lock:
            return list(self.groups.get(group, []))

    def drop_group(self, group: str) -> None:
        self.backend.check()
        with self.backend.lock:
            self.groups.pop(group, None)


class MemoryBlobStore(BlobStore):
    def __init__(self, backend: MemoryBackend):
        self.backend = backend
        self.values: dict[str, tuple[bytes, float]] = {}     # key -> (value, expiry or 0)
        self.lists: dict[str, list[bytes]] = {}
        self.sizes: dict[str, int] = {}
        self.list_expiry: dict[str, float] = {}       # key -> monotonic time a list expires

    def set(self, key: str, value: bytes, ttl: int = 0) -> None:
        self.backend.check()
        with self.backend.lock:
            self.values[key] = (bytes(value), time.monotonic() + ttl if ttl else 0.0)

    def get(self, key: str) -> bytes | None:
        self.backend.check()
        with self.backend.lock:
            value, expiry = self.values.get(key, (None, 0.0))
            if value is not None and expiry and time.monotonic() > expiry:
                del self.values[key]
                return None
            return value

    def append_list(self, key: str, value: bytes, max_bytes: int, ttl: int = 0) -> bool:
        self.backend.check()
        with self.backend.lock:
            self._expire_list(key)
            if self.sizes.get(key, 0) + len(value) > max_bytes:
                return False
            self.lists.setdefault(key, []).append(bytes(value))
            self.sizes[key] = self.sizes.get(key, 0) + len(value)
            if ttl > 0:
                self.list_expiry[key] = time.monotonic() + ttl
            return True

    def pop_list(self, key: str) -> bytes | None:
        self.backend.check()
        with self.backend.lock:
            self._expire_list(key)
            items = self.lists.get(key)
            return items.pop(0) if items else None

    def _expire_list(self, key: str) -> None:
        """Forget a list whose time is up (the caller holds the lock)."""
        expiry = self.list_expiry.get(key)
        if expiry is not None and time.monotonic() > expiry:
            for table in (self.lists, self.sizes, self.list_expiry):
                table.pop(key, None)

    def delete(self, key: str) -> None:
        self.backend.check()
        with self.backend.lock:
            self.values.pop(key, None)
            self.lists.pop(key, None)
            self.sizes.pop(key, None)
            self.list_expiry.pop(key, None)


def memory_stores() -> Stores:
    """Every named store, in memory."""
    from actors.store import stores_on
    return stores_on(MemoryBackend())
