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

The totals ``GET /accounting`` returns are computed in ``actors/usage.py``.
"""

from __future__ import annotations

import logging
import sys
import threading

from actors import channels, times
from actors.accounting_files import Ledger
from actors.config import Config
from actors.services import command_line, start, stop_event
from actors.store import Stores, StoreUnavailable, open_stores
from actors.usage import owner_group

log = logging.getLogger("accounting")

REQUIRED = ("execution_id", "actor_id", "owner", "status")
RETRY_PAUSE = 2.0


class Accounting:
    def __init__(self, config: Config, stores: Stores, terminate: threading.Event | None = None):
        self.config, self.stores = config, stores
        self.ledger = Ledger(config.accounting_file, config.accounting_csv, config.general.instance)
        self.terminate = terminate or threading.Event()

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

    def on_record(self, delivery: channels.Delivery) -> None:
        missing = [name for name in REQUIRED if not delivery.data.get(name)]
        if missing:
            # Nothing can be recorded from it; keep it in the log rather than loop on it.
            log.error("dropping a malformed accounting record (missing %s): %r", ", ".join(missing),
                      delivery.body[:2000])
            return
        self.record(delivery.data)   # a store or disk failure: serve puts the record back

    def record(self, record: dict) -> bool:
        """Store and export one record; False if it was already done (a duplicate)."""
        execution_id = record["execution_id"]
        store = self.stores.accounting
        kept = store.find(execution_id)
        if kept is None:
            fresh = {**record, "job_number": self.stores.next_number("accounting"),
                     "recorded_time": times.now(), "written": False}
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


def main(argv: list[str] | None = None) -> int:
    args = command_line("abaco-accounting", "Keep one accounting record per finished execution; "
                        "write the SGE and CSV files.").parse_args(argv)
    config = start("accounting", args)
    return Accounting(config, open_stores(config), stop_event()).run()


if __name__ == "__main__":
    sys.exit(main())
