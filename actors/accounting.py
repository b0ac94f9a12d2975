"""The accounting process: one record per finished execution, kept once, exported once.

Workers publish a record on the accounting channel when an execution ends (and again
if they crash before marking it sent, so a record may arrive twice). For each record
this process, in order:

1. creates it in the accounting store under the execution id, with a sequence number
   (the SGE job number) and ``written: false``; a record already there is not replaced;
2. appends it to the SGE accounting file and the CSV file (see ``accounting_files``),
   unless the store already says ``written``;
3. marks it ``written`` and only then acknowledges the message.

A crash between any two steps leaves the message unacknowledged, so it comes back and
the steps resume where they stopped: no record is lost, none is stored or written twice.
A store or disk failure puts the message back and retries after a pause. Only one
process writes the files (an exclusive lock); a second one waits as a standby.

Also here: ``summarise``, the totals per user and per actor that ``GET /accounting``
returns.
"""

from __future__ import annotations

import logging
import sys

from actors import channels, models
from actors.accounting_files import Ledger
from actors.config import Config
from actors.process import command_line, start, stop_event
from actors.store import StoreUnavailable, open_stores

log = logging.getLogger("accounting")

REQUIRED = ("execution_id", "actor_id", "owner", "status")
RETRY_PAUSE = 2.0


def owner_group(record: dict) -> str:
    return f"{record.get('tenant') or 'default'}/{record.get('owner') or ''}"


class Accounting:
    def __init__(self, config: Config):
        self.config = config
        self.stores = open_stores(config)
        self.ledger = Ledger(config.accounting_file, config.accounting_csv, config.general.instance)
        self.terminate = stop_event()

    def run(self) -> int:
        while not self.ledger.lock(wait=False):
            if self.terminate.wait(1.0):
                return 0
        log.info("writing %s and %s", self.ledger.sge.path, self.ledger.csv.path)
        try:
            channels.serve(self.config, {channels.accounting_queue(self.config): self.on_record},
                           self.terminate, prefetch=20, retry_pause=RETRY_PAUSE,
                           retry_on=(StoreUnavailable, OSError))
        finally:
            self.ledger.close()
        return 0

    def on_record(self, channel, method, properties, body: bytes) -> None:
        try:
            record = channels.decode_json(body)
            missing = [name for name in REQUIRED if not record.get(name)]
            if missing:
                raise ValueError(f"missing {', '.join(missing)}")
        except ValueError as exc:
            # Nothing can be recorded from it; keep it in the log rather than loop on it.
            log.error("dropping a malformed accounting record (%s): %r", exc, body[:2000])
            channel.basic_ack(method.delivery_tag)
            return
        self.record(record)          # a store or disk failure: serve puts the record back
        channel.basic_ack(method.delivery_tag)

    def record(self, record: dict) -> bool:
        """Store and export one record; False if it was already done (a duplicate)."""
        execution_id = record["execution_id"]
        store = self.stores.accounting
        kept = store.find(execution_id)
        if kept is None:
            fresh = {**record, "job_number": self.stores.next_number("accounting"),
                     "recorded_time": models.now(), "written": False}
            kept = fresh if store.create(execution_id, fresh, group=owner_group(fresh)) \
                else store.get(execution_id)
        if kept.get("written"):
            log.info("execution %s is already accounted; ignoring the copy", execution_id)
            return False
        self.ledger.write(kept)
        store.update(execution_id, {"written": True})
        self.ledger.settled(execution_id)
        log.info("accounted execution %s of actor %s (%s)", execution_id, kept["actor_id"], kept["status"])
        return True


# ---------------------------------------------------------------------- totals

def _empty() -> dict:
    return {"executions": 0, "complete": 0, "error": 0, "cpu_seconds": 0.0, "runtime_seconds": 0.0,
            "memory_peak_max": 0, "io_bytes": 0}


def _add(total: dict, record: dict) -> None:
    total["executions"] += 1
    if record.get("status") == "COMPLETE":
        total["complete"] += 1
    else:
        total["error"] += 1
    total["cpu_seconds"] += (record.get("cpu_ns") or 0) / 1e9
    total["runtime_seconds"] += float(record.get("runtime") or 0)
    total["memory_peak_max"] = max(total["memory_peak_max"], int(record.get("memory_peak") or 0))
    total["io_bytes"] += int(record.get("io_bytes") or 0)


def _rounded(total: dict) -> dict:
    return {**total, "cpu_seconds": round(total["cpu_seconds"], 6),
            "runtime_seconds": round(total["runtime_seconds"], 6)}


def summarise(records) -> dict:
    """Totals over ``records``: overall, per user (owner) and per actor."""
    overall, users, actors = _empty(), {}, {}
    for record in records:
        _add(overall, record)
        _add(users.setdefault(record.get("owner") or "", _empty()), record)
        actor_key = (record.get("actor_id"), record.get("owner") or "")
        _add(actors.setdefault(actor_key, _empty()), record)
    return {
        "total": _rounded(overall),
        "users": [{"user": user, **_rounded(t)} for user, t in sorted(users.items())],
        "actors": [{"actor_id": actor_id, "owner": owner, **_rounded(t)}
                   for (actor_id, owner), t in sorted(actors.items())],
    }


def main(argv: list[str] | None = None) -> int:
    args = command_line("abaco-accounting", "Keep one accounting record per finished execution; "
                        "write the SGE and CSV files.").parse_args(argv)
    return Accounting(start("accounting", args)).run()


if __name__ == "__main__":
    sys.exit(main())
