"""``AbacoExecutor``: a ``concurrent.futures.Executor`` whose calls run as actor executions.

Each ``submit(fn, *args, **kwargs)`` sends one binary message, the cloudpickle of
``{"func", "args", "kwargs}`` (Abaco's executor format), to an actor running the
``abaco/pyfunc:local`` image (``actors/sdk/pyfunc.py``); ``map`` sends its calls in
batches (``POST .../messages/batch``, all accepted or none) and yields results in order.

Guarantees:

* every future carries its ``execution_id``, ``logs()`` and, once done, ``usage`` (cpu,
  io, runtime, memory peak, exit code of the execution record);
* a future completes with the call's value, or with the exception the call raised,
  re-raised on the client with the remote traceback as its ``__cause__``; an execution
  that ends without a value (ERROR: killed past a limit, purged; or a container that died)
  completes its future with :class:`ExecutionFailed`, so no future waits forever on a
  finished execution;
* ``cancel()`` on a future not done force-quits its execution (or drops it from the queue);
* futures complete when the API announces the end: a few watcher threads hold long
  waits (``POST .../executions/wait``) that the API answers as soon as one of the
  watched executions ends; nothing polls on a timer.

Unpickling runs code: use the executor only with actors (images) you trust.
"""

from __future__ import annotations

import base64
import itertools
import logging
import os
import sys
import threading
import time
from concurrent.futures import Executor, Future, InvalidStateError, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any, Callable, Iterable, Iterator

import cloudpickle

from actors.sdk.client import TRANSIENT_STATUSES, Client, ClientError, get_field
from actors.sdk.pyfunc import is_failure

log = logging.getLogger(__name__)

DEFAULT_IMAGE = "abaco/pyfunc:local"
USAGE_FIELDS = ("status", "exit_code", "cpu", "io", "runtime", "memory_peak", "start_time", "finish_time")


class ExecutionFailed(Exception):
    """The execution ended without a value (ERROR, killed, no result sent)."""

    def __init__(self, message: str, execution: dict | None = None):
        super().__init__(message)
        self.execution = execution or {}


class RemoteError(Exception):
    """A remote exception whose class could not be rebuilt on the client."""

    def __init__(self, type_name: str, message: str):
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name


class RemoteTraceback(Exception):
    """The traceback of the call as it failed in its container (set as ``__cause__``)."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


def _installed(path: str) -> bool:
    """Whether a module file belongs to the interpreter (standard library, site-packages)."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    return any(os.path.abspath(path).startswith(os.path.abspath(r) + os.sep) for r in roots)


def pack(fn: Callable, args: tuple, kwargs: dict) -> bytes:
    """A call as Abaco's executor sends it. A function of the caller's own modules (not the
    standard library nor an installed package) travels by value, as one of ``__main__``
    does: the image does not have those modules."""
    module = sys.modules.get(getattr(fn, "__module__", None) or "")
    path = getattr(module, "__file__", None)
    if module is not None and path and not _installed(path) and module.__name__ not in _BY_VALUE:
        cloudpickle.register_pickle_by_value(module)
        _BY_VALUE.add(module.__name__)
    return cloudpickle.dumps({"func": fn, "args": args, "kwargs": kwargs})


_BY_VALUE: set[str] = set()


def outcome(data: bytes) -> tuple[bool, Any]:
    """A result sent by the pyfunc runner: (True, value) or (False, the exception to raise)."""
    value = cloudpickle.loads(data)
    if not is_failure(value):
        return True, value
    exc: BaseException | None = None
    if value.get("exception"):
        try:
            exc = cloudpickle.loads(value["exception"])
        except Exception:  # noqa: BLE001 - a class the client does not have
            exc = None
    if not isinstance(exc, BaseException):
        exc = RemoteError(str(value.get("type")), str(value.get("message")))
    exc.__cause__ = RemoteTraceback(str(value.get("traceback") or ""))
    return False, exc


class AbacoFuture(Future):
    """A future of one execution."""

    def __init__(self, executor: "AbacoExecutor", execution_id: str):
        super().__init__()
        self.execution_id = execution_id
        self.usage: dict | None = None
        self.execution: dict | None = None
        self._executor = executor

    def logs(self) -> str:
        """The execution's logs (what it printed so far)."""
        return self._executor.client.get_logs(self._executor.actor_id, self.execution_id)

    def cancel(self) -> bool:
        """Force-quit the execution (drop it if it has not started); False once it ended."""
        if self.cancelled():
            return True
        if self.done():
            return False
        try:
            self._executor.client.force_quit(self._executor.actor_id, self.execution_id)
        except ClientError as exc:
            if "Cannot force quit" not in exc.message:     # else: it ended meanwhile; its watcher completes it
                log.warning("execution %s could not be force-quit: %s", self.execution_id, exc)
            return False
        if not super().cancel():
            return False
        self.set_running_or_notify_cancel()      # wakes wait() and as_completed()
        self._executor._forget(self.execution_id)
        return True


class AbacoExecutor(Executor):
    """Run Python calls as executions of an actor.

    ``actor``: an actor id (or alias) running the pyfunc image, or an image name (it holds
    a ``/`` or ``:``); or pass ``image`` (default ``abaco/pyfunc:local`` when no actor is
    given): then the executor registers an actor of that image for itself,
    with ``workers`` workers, deleted again at ``shutdown``. ``warm`` is passed as the
    actor's ``warm`` field only when set. ``batch_size`` calls go in one request in ``map``
    (1: one message each). ``watchers`` threads wait for ends, each in waits of at most
    ``wait_timeout`` seconds (the API's ``[web] max_sync_waits_per_user`` caps how many hold
    a wait at once: 2 by default).
    """

    def __init__(self, actor: str | None = None, url: str = "http://127.0.0.1:8000", token: str | None = None, *,
                 image: str | None = None, workers: int | None = None, warm: bool | None = None,
                 batch_size: int = 500, watchers: int = 2, wait_timeout: float = 10.0,
                 ready_timeout: float = 180.0, client: Client | None = None, **actor_fields: Any):
        self.client = client or Client(url, token)
        self.batch_size = max(1, batch_size)
        self.wait_timeout = wait_timeout
        self._lock = threading.Condition()
        self._futures: dict[str, AbacoFuture] = {}       # not done yet
        self._unwatched: list[str] = []                   # of those, ids no watcher holds
        self._shutdown = False
        self._owned = False
        if actor is not None and image is None and ("/" in actor or ":" in actor):
            actor, image = None, actor          # an image name (actor ids and aliases hold neither)
        if actor is None or image is not None:
            fields: dict[str, Any] = {"name": "pyfunc-executor", **actor_fields}
            if workers:
                fields["max_workers"] = workers
            if warm is not None:
                fields["warm"] = warm
            created = self.client.create_actor(image or DEFAULT_IMAGE, **fields)
            self.actor_id: str = created["id"]
            self._owned = True
            try:
                self.client.wait_ready(self.actor_id, timeout=ready_timeout)
                if workers and workers > 1:
                    self.client.add_workers(self.actor_id, workers)
            except BaseException:
                self.client.delete_actor(self.actor_id)
                raise
        else:
            self.actor_id = actor
        self._completer = ThreadPoolExecutor(max_workers=4, thread_name_prefix="abaco-complete")
        self._watchers = [threading.Thread(target=self._watch, name=f"abaco-watch-{i}", daemon=True)
                          for i in range(max(1, watchers))]
        for thread in self._watchers:
            thread.start()

    # ------------------------------------------------------------ sending

    def _track(self, execution_ids: list[str]) -> list[AbacoFuture]:
        futures = [AbacoFuture(self, eid) for eid in execution_ids]
        with self._lock:
            for future in futures:
                self._futures[future.execution_id] = future
            self._unwatched.extend(execution_ids)
            self._lock.notify_all()
        return futures

    def _check_open(self) -> None:
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> AbacoFuture:
        """Send one call as one message; its future."""
        self._check_open()
        sent = self.client.send_message(self.actor_id, binary=pack(fn, args, kwargs))
        return self._track([get_field(sent, "execution_id")])[0]

    def submit_batch(self, fn: Callable, calls: Iterable[tuple]) -> list[AbacoFuture]:
        """Send ``fn(*args)`` for every ``args`` in ``calls`` in one batch request (all or none)."""
        self._check_open()
        items = [{"binary": base64.b64encode(pack(fn, tuple(args), {})).decode()} for args in calls]
        if not items:
            return []
        sent = self.client.call("POST", f"/actors/{self.actor_id}/messages/batch", json={"messages": items})
        return self._track(list(get_field(sent, "execution_ids")))

    def map(self, fn: Callable, *iterables: Iterable, timeout: float | None = None,
            chunksize: int = 1) -> Iterator:
        """``fn`` over the iterables, results in order; calls go ``batch_size`` to a request.
        As in the standard executors, the calls are all sent before the first result is
        yielded, and leaving the iterator early cancels the ones not done."""
        deadline = None if timeout is None else time.monotonic() + timeout
        calls = iter(zip(*iterables, strict=False))   # stops at the shortest, as map does
        futures: list[AbacoFuture] = []
        if self.batch_size == 1:
            futures = [self.submit(fn, *args) for args in calls]
        else:
            while chunk := list(itertools.islice(calls, self.batch_size)):
                futures.extend(self.submit_batch(fn, chunk))

        def results() -> Iterator:
            try:
                futures.reverse()
                while futures:
                    left = None if deadline is None else deadline - time.monotonic()
                    yield futures.pop().result(left)
            finally:
                for future in futures:
                    future.cancel()
        return results()

    # ------------------------------------------------------------ watching

    def _watch(self) -> None:
        """Hold long waits on the executions no other watcher holds; complete the ended ones."""
        pause = 0.0
        while True:
            with self._lock:
                while not self._unwatched and not self._shutdown:
                    self._lock.wait()
                if not self._unwatched:
                    return                                 # shut down, nothing left to watch
                cap = 1000
                ids, self._unwatched = self._unwatched[:cap], self._unwatched[cap:]
            if pause:
                time.sleep(pause)
            try:
                answer = self.client.call("POST", f"/actors/{self.actor_id}/executions/wait",
                                          json={"ids": ids, "timeout": self.wait_timeout},
                                          timeout=self.wait_timeout + 30)
                pause = 0.0
            except ClientError as exc:
                if exc.status in (429, *TRANSIENT_STATUSES):
                    pause = min(2.0, pause * 2 or 0.2)     # another wait holds the slot, or the API is away
                    self._give_back(ids)
                    continue
                for eid in ids:                            # the actor is gone, or these ids are unknown
                    self._fail(eid, ExecutionFailed(f"cannot follow execution {eid}: {exc}"))
                continue
            finished = answer.get("finished") or []
            ended = set()
            for record in finished:
                ended.add(record.get("id"))
                self._completer.submit(self._complete, record)
            self._give_back([eid for eid in ids if eid not in ended])

    def _give_back(self, ids: list[str]) -> None:
        with self._lock:
            self._unwatched.extend(eid for eid in ids if eid in self._futures)
            self._lock.notify_all()

    def _forget(self, execution_id: str) -> AbacoFuture | None:
        with self._lock:
            future = self._futures.pop(execution_id, None)
            self._lock.notify_all()
            return future

    def _fail(self, execution_id: str, exc: BaseException) -> None:
        future = self._forget(execution_id)
        if future is not None:
            _settle(future, False, exc)

    def _complete(self, record: dict) -> None:
        eid = record.get("id", "")
        future = self._futures.get(eid)
        if future is None or future.done():
            self._forget(eid)
            return
        future.execution = record
        future.usage = {name: get_field(record, name) for name in USAGE_FIELDS}
        try:
            data = self.client.get_result(self.actor_id, eid)
            if data:
                good, value = outcome(data)
            else:
                good, value = False, ExecutionFailed(
                    f"execution {eid} ended {record.get('status')} without a result "
                    f"(exit code {get_field(record, 'exit_code')}): {get_field(record, 'status_message') or ''}",
                    record)
        except Exception as exc:  # noqa: BLE001 - unreadable results complete the future too
            good, value = False, ExecutionFailed(f"execution {eid}: its result cannot be read: {exc}", record)
        self._forget(eid)
        _settle(future, good, value)

    # ------------------------------------------------------------ closing

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            pending = list(self._futures.values())
            self._lock.notify_all()
        if cancel_futures:
            for future in pending:
                future.cancel()
        if wait:
            self._close(pending)
        else:
            threading.Thread(target=self._close, args=(pending,), name="abaco-close").start()

    def _close(self, pending: list[AbacoFuture]) -> None:
        wait_futures(pending)
        for thread in self._watchers:
            thread.join()
        self._completer.shutdown(wait=True)
        if self._owned:
            try:
                self.client.delete_actor(self.actor_id)
            except ClientError as exc:
                log.warning("actor %s could not be deleted: %s", self.actor_id, exc)


def _settle(future: Future, good: bool, value: Any) -> None:
    try:
        if good:
            future.set_result(value)
        else:
            future.set_exception(value)
    except InvalidStateError:
        pass                               # cancelled meanwhile
