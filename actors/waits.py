"""How many synchronous waits (``?_abaco_synchronous=true``) an API process holds at once.

A synchronous message keeps its request thread until the execution ends. Without a cap
one user's sleeping actor could hold every thread of the API and starve everyone else.
So each process allows at most ``per_user`` waits of one user and ``total`` waits in all,
``total`` being kept below its number of request threads; beyond either the request is a
429 at once (the message is not sent) and the caller may send it asynchronously instead.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from actors.errors import TooManyRequestsError


class WaitSlots:
    def __init__(self, per_user: int, total: int):
        self.per_user = max(1, per_user)
        self.total = max(1, total)
        self._held: Counter[str] = Counter()
        self._lock = threading.Lock()

    def take(self, user: str) -> None:
        with self._lock:
            if self._held[user] >= self.per_user:
                raise TooManyRequestsError(
                    f"{user} already waits for {self._held[user]} synchronous execution(s), the most one user may "
                    f"([web] max_sync_waits_per_user = {self.per_user}); send the message without "
                    f"_abaco_synchronous and poll its execution")
            if sum(self._held.values()) >= self.total:
                raise TooManyRequestsError(
                    f"this API process already holds {self.total} synchronous waits, the most it keeps "
                    f"([web] max_sync_waits); send the message without _abaco_synchronous and poll its execution")
            self._held[user] += 1

    def give_back(self, user: str) -> None:
        with self._lock:
            self._held[user] -= 1
            if self._held[user] <= 0:
                del self._held[user]

    @contextmanager
    def held(self, user: str) -> Iterator[None]:
        self.take(user)
        try:
            yield
        finally:
            self.give_back(user)

    def in_use(self) -> int:
        with self._lock:
            return sum(self._held.values())


def for_threads(per_user: int, total: int, threads: int) -> WaitSlots:
    """Slots for a process with ``threads`` request threads: ``total`` (0: half of them) is kept
    at least one below the thread count, so other requests always find a thread."""
    limit = total if total > 0 else threads // 2
    return WaitSlots(per_user, max(1, min(limit, threads - 1)))
