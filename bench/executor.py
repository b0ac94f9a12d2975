"""N no-op tasks through AbacoExecutor.map: one message per task against one batch request.

Both modes run on the same actor (abaco/pyfunc:local, cold containers, ``--workers``
workers) in one run, batch first and single after it (or ``--order single-first``), so
the machine's state affects both alike. Needs the stack from `make up`.

For each task it reads the execution record and the moment its future completed, and prints
p50 figures of:

* send      the client's time to hand the task over (the send phase divided by N)
* queue     message accepted -> container started (grows with the backlog: N / workers)
* worker    start -> end recorded, minus the container's own runtime (create, start, reap)
* notify    end recorded -> future completed on the client (long wait answered, result read)
* overhead  send + worker + notify: what one task costs beyond its own run and its wait in line

and the wall time of the whole map, tasks per second, and the single/batch ratios.

    .venv/bin/python bench/executor.py [--tasks 1000] [--workers 4]
    .venv/bin/python bench/executor.py --send-only [--tasks 1000]   # the hand-over alone
"""

from __future__ import annotations

import argparse
import concurrent.futures
import statistics
import sys
import time

from common import stack_client

from actors import times
from actors.sdk.executor import AbacoExecutor


def noop(i):
    return i


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


class TimedExecutor(AbacoExecutor):
    """Notes the moment each future completes (a done callback on every future it makes)."""

    def __init__(self, *args, **kwargs):
        self.done_at: dict[str, float] = {}
        super().__init__(*args, **kwargs)

    def _track(self, execution_ids):
        futures = super()._track(execution_ids)
        for future in futures:
            future.add_done_callback(lambda f: self.done_at.__setitem__(f.execution_id, time.time()))
        return futures


def run_mode(ex: TimedExecutor, tasks: int, batch: bool) -> dict:
    """Map ``noop`` over ``tasks`` inputs; per-task figures in seconds."""
    ex.batch_size = 500 if batch else 1
    ex.done_at = {}
    start = time.time()
    results_iter = ex.map(noop, range(tasks))     # every task is sent when map returns
    sent = time.time()
    results = list(results_iter)
    end = time.time()
    if results != list(range(tasks)):
        sys.exit("wrong results")
    queue, worker, notify = [], [], []
    for eid, seen in ex.done_at.items():
        rec = ex.client.get_execution(ex.actor_id, eid)
        received, started = times.epoch(rec["message_received_time"]), times.epoch(rec["start_time"])
        finished = times.epoch(rec["finish_time"])
        queue.append(started - received)
        worker.append(max(0.0, finished - started - float(rec.get("runtime") or 0)))
        notify.append(seen - finished)
    send = (sent - start) / tasks
    return {"wall": end - start, "send": send, "queue": p50(queue), "worker": p50(worker),
            "notify": p50(notify), "overhead": send + p50(worker) + p50(notify)}


def send_only(ex: TimedExecutor, tasks: int, batch: bool) -> float:
    """Seconds to hand ``tasks`` calls over (what map does before its first result), then drop
    them from the mailbox unrun (their futures end with ExecutionFailed); one or two that a
    worker took already run to their end."""
    start = time.time()
    if batch:
        futures = [f for i in range(0, tasks, 500) for f in ex.submit_batch(noop, [(j,) for j in
                                                                                range(i, min(tasks, i + 500))])]
    else:
        futures = [ex.submit(noop, i) for i in range(tasks)]
    elapsed = time.time() - start
    ex.client.call("DELETE", f"/actors/{ex.actor_id}/messages")
    concurrent.futures.wait(futures, timeout=600)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--order", choices=("batch-first", "single-first"), default="batch-first")
    parser.add_argument("--send-only", action="store_true",
                        help="only time handing the tasks over (then drop them unrun): 1,000 tasks in seconds")
    args = parser.parse_args()
    cfg, client = stack_client(user="bench-executor", role="admin", timeout=300)
    if args.send_only:
        with TimedExecutor(client=client, workers=1) as ex:
            list(ex.map(noop, range(2)))
            took = {mode: send_only(ex, args.tasks, mode == "batch")
                    for mode in (("batch", "single") if args.order == "batch-first" else ("single", "batch"))}
        print(f"{args.tasks} no-op tasks handed over to AbacoExecutor (then dropped unrun)")
        for mode, seconds in took.items():
            print(f"{mode:8} {seconds:8.2f} s   {seconds / args.tasks * 1000:8.2f} ms per task   "
                  f"{args.tasks / seconds:8.0f} tasks/s")
        print(f"send per task, single / batch: {took['single'] / took['batch']:.1f}x")
        return 0
    with TimedExecutor(client=client, workers=args.workers, wait_timeout=10) as ex:
        list(ex.map(noop, range(args.workers)))              # warm up: every worker has run once
        order = [True, False] if args.order == "batch-first" else [False, True]
        figures = {("batch" if b else "single"): run_mode(ex, args.tasks, b) for b in order}
    print(f"{args.tasks} no-op tasks through AbacoExecutor.map, {args.workers} workers, cold containers "
          f"(abaco/pyfunc:local)")
    print(f"{'mode':8} {'wall s':>8} {'tasks/s':>8} {'send ms':>8} {'queue s':>8} {'worker ms':>9} "
          f"{'notify ms':>9} {'overhead ms':>11}")
    for mode, f in figures.items():
        print(f"{mode:8} {f['wall']:8.1f} {args.tasks / f['wall']:8.2f} {f['send'] * 1000:8.2f} {f['queue']:8.1f} "
              f"{f['worker'] * 1000:9.1f} {f['notify'] * 1000:9.1f} {f['overhead'] * 1000:11.1f}")
    single, batch = figures["single"], figures["batch"]
    print(f"send per task, single / batch: {single['send'] / batch['send']:.1f}x")
    print(f"per-task overhead p50, single / batch: {single['overhead'] / batch['overhead']:.2f}x")
    print(f"wall, single / batch: {single['wall'] / batch['wall']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
