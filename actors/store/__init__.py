"""The Store interface and the platform's named stores.

A store maps string keys to JSON documents (dicts). Documents may belong to a
*group* (for example every execution of one actor) so a group can be listed in
insertion order without scanning the whole store. Operations that two processes may
race on (status changes, state updates, counters) are atomic in every backend.

Backends: ``store/redis.py`` (used for every store) and ``store/memory.py`` (in-process,
for unit tests of the processes' decisions).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Iterator

from actors.config import Config


class StoreUnavailable(Exception):
    """The backend could not be reached; nothing was written."""


class Store(abc.ABC):
    """One named collection of JSON documents."""

    name: str

    @abc.abstractmethod
    def get(self, key: str) -> dict:
        """The document at ``key``; KeyError if there is none."""

    def find(self, key: str) -> dict | None:
        try:
            return self.get(key)
        except KeyError:
            return None

    @abc.abstractmethod
    def put(self, key: str, doc: dict, group: str | None = None) -> None:
        """Write the whole document (create or replace)."""

    @abc.abstractmethod
    def create(self, key: str, doc: dict, group: str | None = None) -> bool:
        """Write the document only if ``key`` is free; False if it exists."""

    @abc.abstractmethod
    def update(self, key: str, fields: dict, expect: dict | None = None) -> dict | None:
        """Atomically merge ``fields`` into the document.

        With ``expect`` the merge happens only when every expected field has the given
        value (compare-and-set). Returns the new document, or None when the key is
        missing or an expectation failed.
        """

    @abc.abstractmethod
    def delete(self, key: str) -> bool:
        """Remove the document (and its group membership); False if it was missing."""

    @abc.abstractmethod
    def keys(self) -> list[str]:
        """Every key in the store."""

    @abc.abstractmethod
    def group(self, group: str) -> list[str]:
        """Keys of a group, oldest first."""

    @abc.abstractmethod
    def drop_group(self, group: str) -> None:
        """Forget a group's index (the documents stay)."""

    def items(self) -> Iterator[tuple[str, dict]]:
        for key in self.keys():
            doc = self.find(key)
            if doc is not None:
                yield key, doc

    def group_docs(self, group: str) -> list[dict]:
        docs = self.get_many(self.group(group))
        return [d for d in docs if d is not None]

    def get_many(self, keys: list[str]) -> list[dict | None]:
        return [self.find(k) for k in keys]

    def put_many(self, docs: list[tuple[str, dict]], group: str | None = None) -> None:
        """``put`` each ``(key, doc)``, in order (a backend may send them in one round trip)."""
        for key, doc in docs:
            self.put(key, doc, group)


class BlobStore(abc.ABC):
    """Bytes or text values by key (logs, results), optionally expiring."""

    @abc.abstractmethod
    def set(self, key: str, value: bytes, ttl: int = 0) -> None: ...

    @abc.abstractmethod
    def get(self, key: str) -> bytes | None: ...

    @abc.abstractmethod
    def append_list(self, key: str, value: bytes, max_bytes: int, ttl: int = 0) -> bool:
        """Append to a list value; False (and nothing written) past ``max_bytes`` in all.

        With ``ttl`` the whole list expires that many seconds after its latest append.
        """

    @abc.abstractmethod
    def pop_list(self, key: str) -> bytes | None:
        """Take the oldest value of a list value."""

    @abc.abstractmethod
    def delete(self, key: str) -> None: ...


@dataclass
class Stores:
    """The named stores every process uses."""

    actors: Store
    workers: Store        # grouped by actor id
    executions: Store     # grouped by actor id
    logs: BlobStore       # execution id -> log text
    results: BlobStore    # execution id -> list of result datagrams (expire after [store] results_ttl)
    parked: BlobStore  # execution id -> a duplicate delivery kept while its first runs
    accounting: Store  # execution id -> accounting record (grouped by tenant/owner)
    clients: Store     # OAuth client id -> client (grouped by tenant/owner)
    refresh_tokens: Store  # refresh token id -> its hash and client (grouped by client)
    worker_clients: Store  # worker id -> the OAuth client clientg made for it, with tokens
    installations: Store   # "kind:name" -> what is being made, by which pid (grouped by host)
    permissions: Store     # "kind:id:user" -> a grant (grouped by "kind:id")
    aliases: Store         # "tenant:alias" -> the actor it names (grouped by actor id)
    nonces: Store          # nonce id -> level and uses (grouped by "kind:id")
    configs: Store         # "tenant:name" -> an actor config, secrets encrypted
    hosts: Store           # host id -> the compute host's registration and last heartbeat (actors/hosts.py)
    autoscaling: Store     # actor id -> its last autoscaling decisions; "lease" -> the active autoscaler
    backend: Any = None

    def execution_done(self, execution_id: str) -> None:
        """Announce that an execution reached a terminal status."""
        self.backend.signal(f"done:{execution_id}")

    def wait_execution(self, execution_id: str, timeout: float) -> bool:
        return self.backend.wait_signal(f"done:{execution_id}", timeout)

    def wait_any_execution(self, execution_ids: list[str], timeout: float) -> str | None:
        """Block until one of ``execution_ids`` is announced done (its id) or ``timeout`` passes (None)."""
        done = self.backend.wait_any_signal([f"done:{e}" for e in execution_ids], timeout)
        return done[len("done:"):] if done else None

    def next_number(self, name: str) -> int:
        """The next value of a named sequence, unique across processes."""
        return self.backend.next_number(name)

    def ping(self) -> None:
        self.backend.ping()

    def close(self) -> None:
        self.backend.close()


def open_stores(config: Config) -> Stores:
    """Connect the configured backend and return the named stores."""
    if config.store.backend == "redis":
        from actors.store.redis import RedisBackend
        return stores_on(RedisBackend(config))
    raise ValueError(f"unknown store backend {config.store.backend!r}")


STORE_NAMES = ("actors", "workers", "executions", "accounting", "clients", "refresh_tokens", "worker_clients",
               "installations", "permissions", "aliases", "nonces", "configs", "hosts", "autoscaling")
BLOB_NAMES = ("logs", "results", "parked")


def stores_on(backend: Any) -> Stores:
    """The named stores of one backend (Redis, or memory in tests)."""
    return Stores(**{name: backend.store(name) for name in STORE_NAMES},
                  **{name: backend.blobs(name) for name in BLOB_NAMES}, backend=backend)
