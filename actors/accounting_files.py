"""The accounting files: SGE accounting(5) lines and CSV, written once per execution.

SGE accounting(5) has 45 colon-separated fields per finished job. An execution maps to
them as follows (everything else is 0 or NONE, as a batch system writes for a job that
did not use it):

    1 qname        the platform instance       9-11 submission/start/end time (epoch s)
    2 hostname     host_id of the worker       12 failed        0 COMPLETE, 100 ERROR
    3 group        tenant                      13 exit_status   the container's exit code
    4 owner        actor owner                 14 ru_wallclock  runtime (s)
    5 job_name     execution id                15 ru_utime      user CPU seconds
    6 job_number   sequence number             16 ru_stime      system CPU seconds
                                               17 ru_maxrss     memory peak (KiB)
    7 account      actor id                    32 project       image
    33 department  executor (who sent it)      35 slots         1
    36 task_number attempts                    37 cpu           CPU seconds (user + system)
    38 mem         memory integral (GB·s)      39 io            io bytes / 2^30 (GiB)
    40 category    status;reason
    43 maxvmem     memory peak (bytes)

Text fields are percent-escaped (``%`` ``:`` ``;`` and line breaks) so a value can never
split a line or a field; ``parse_sge_line`` undoes it, so the file reads back to the
same records (times at the one-second precision of the format).

Each file has one writer at a time (an exclusive lock, see ``Ledger``). A record is
appended with one ``write`` of a whole line followed by ``fsync``; a line cut short by a
crash or a full disk is cut off again before the next write, and the ids of the last
lines are remembered at start so a record whose append was not yet confirmed in the
store is never written twice.
"""

from __future__ import annotations

import csv
import fcntl
import io
import os
from pathlib import Path
from typing import TextIO

from actors import times

SGE_FIELDS = (
    "qname", "hostname", "group", "owner", "job_name", "job_number", "account", "priority",
    "submission_time", "start_time", "end_time", "failed", "exit_status", "ru_wallclock",
    "ru_utime", "ru_stime", "ru_maxrss", "ru_ixrss", "ru_ismrss", "ru_idrss", "ru_isrss",
    "ru_minflt", "ru_majflt", "ru_nswap", "ru_inblock", "ru_oublock", "ru_msgsnd", "ru_msgrcv",
    "ru_nsignals", "ru_nvcsw", "ru_nivcsw", "project", "department", "granted_pe", "slots",
    "task_number", "cpu", "mem", "io", "category", "iow", "pe_taskid", "maxvmem", "arid",
    "ar_submission_time",
)
assert len(SGE_FIELDS) == 45

CSV_FIELDS = (
    "job_number", "execution_id", "actor_id", "worker_id", "owner", "executor", "tenant", "host",
    "image", "submit_time", "start_time", "end_time", "runtime", "exit_code", "cpu_ns",
    "memory_peak", "io_bytes", "status", "reason", "attempts", "cpu_user_ns", "cpu_system_ns", "mem_gbs",
)

GIB = 2 ** 30
_ESCAPES = {"%": "%25", ":": "%3A", ";": "%3B", "\n": "%0A", "\r": "%0D"}


def escape(text) -> str:
    return "".join(_ESCAPES.get(ch, ch) for ch in str(text if text is not None else ""))


def unescape(text: str) -> str:
    for plain, coded in reversed(list(_ESCAPES.items())):
        text = text.replace(coded, plain)
    return text


def epoch(value) -> int:
    """Whole epoch seconds of an ISO 8601 time (0 when there is none)."""
    return int(times.epoch(value))


def _num(value) -> str:
    """A number as SGE writes it: integers plain, fractions without trailing noise."""
    value = float(value or 0)
    return str(int(value)) if value.is_integer() else repr(value)


def sge_line(record: dict, qname: str) -> str:
    """One accounting(5) line (with its newline) for an execution record."""
    cpu_seconds = (record.get("cpu_ns") or 0) / 1e9
    user_ns, system_ns = record.get("cpu_user_ns") or 0, record.get("cpu_system_ns") or 0
    if not user_ns and not system_ns:          # a record from before the split: all of it as user time
        user_ns = record.get("cpu_ns") or 0
    peak = int(record.get("memory_peak") or 0)
    values = dict.fromkeys(SGE_FIELDS, "0")
    values.update({
        "qname": escape(qname), "hostname": escape(record.get("host")),
        "group": escape(record.get("tenant")), "owner": escape(record.get("owner")),
        "job_name": escape(record["execution_id"]), "job_number": str(int(record["job_number"])),
        "account": escape(record.get("actor_id")),
        "submission_time": str(epoch(record.get("submit_time"))),
        "start_time": str(epoch(record.get("start_time"))),
        "end_time": str(epoch(record.get("end_time"))),
        "failed": "0" if record.get("status") == "COMPLETE" else "100",
        "exit_status": str(int(record["exit_code"])) if record.get("exit_code") is not None else "0",
        "ru_wallclock": _num(record.get("runtime")), "ru_utime": _num(user_ns / 1e9),
        "ru_stime": _num(system_ns / 1e9),
        "ru_maxrss": str(peak // 1024), "project": escape(record.get("image")),
        "department": escape(record.get("executor")), "granted_pe": "NONE", "slots": "1",
        "task_number": str(int(record.get("attempts") or 0)), "cpu": _num(cpu_seconds),
        "mem": _num(float(record.get("mem_gbs") or 0)),
        "io": _num(int(record.get("io_bytes") or 0) / GIB),
        "category": escape(record.get("status")) + ";" + escape(record.get("reason")),
        "pe_taskid": "NONE", "maxvmem": str(peak),
    })
    return ":".join(values[name] for name in SGE_FIELDS) + "\n"


def parse_sge_line(line: str) -> dict:
    """The record fields an accounting(5) line written by ``sge_line`` carries."""
    parts = line.rstrip("\n").split(":")
    if len(parts) != len(SGE_FIELDS):
        raise ValueError(f"an accounting line has {len(SGE_FIELDS)} fields, this one {len(parts)}")
    raw = dict(zip(SGE_FIELDS, parts, strict=True))
    status, _, reason = raw["category"].partition(";")
    return {
        "qname": unescape(raw["qname"]), "host": unescape(raw["hostname"]),
        "tenant": unescape(raw["group"]), "owner": unescape(raw["owner"]),
        "execution_id": unescape(raw["job_name"]), "job_number": int(raw["job_number"]),
        "actor_id": unescape(raw["account"]), "submit_time": int(raw["submission_time"]),
        "start_time": int(raw["start_time"]), "end_time": int(raw["end_time"]),
        "failed": int(raw["failed"]), "exit_code": int(raw["exit_status"]),
        "runtime": float(raw["ru_wallclock"]), "cpu_ns": round(float(raw["cpu"]) * 1e9),
        "cpu_user_ns": round(float(raw["ru_utime"]) * 1e9), "cpu_system_ns": round(float(raw["ru_stime"]) * 1e9),
        "mem_gbs": float(raw["mem"]),
        "memory_peak": int(raw["maxvmem"]), "image": unescape(raw["project"]),
        "executor": unescape(raw["department"]), "attempts": int(raw["task_number"]),
        "io_bytes": round(float(raw["io"]) * GIB),
        "status": unescape(status), "reason": unescape(reason),
    }


def read_sge(path: Path) -> list[dict]:
    """Every record of an accounting file (comment lines skipped)."""
    with open(path) as fh:
        return [parse_sge_line(line) for line in fh if line.strip() and not line.startswith("#")]


def csv_line(record: dict) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(
        ["" if record.get(name) is None else record.get(name) for name in CSV_FIELDS])
    return out.getvalue()


def csv_header() -> str:
    return ",".join(CSV_FIELDS) + "\n"


class AccountingFile:
    """One append-only file of whole lines, one per execution, each written once."""

    TAIL_BYTES = 256 * 1024

    def __init__(self, path: Path, id_of, header: str = ""):
        self.path = Path(path)
        self.id_of = id_of          # line -> execution id (or None for a header)
        self.header = header
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.recent: set[str] = set()

    def open(self) -> None:
        """Cut a partial last line, write the header of a new file, remember the last ids."""
        with open(self.path, "a+b") as fh:
            size = fh.seek(0, os.SEEK_END)
            start = max(0, size - self.TAIL_BYTES)
            fh.seek(start)
            tail = fh.read()
            if tail and not tail.endswith(b"\n"):
                cut = tail.rfind(b"\n") + 1          # 0 when no whole line is left
                size = start + cut
                fh.truncate(size)
                tail = tail[:cut]
            if size == 0 and self.header:
                fh.write(self.header.encode())
                fh.flush()
                os.fsync(fh.fileno())
        lines = tail.decode(errors="replace").splitlines()
        if start > 0 and lines:
            lines = lines[1:]  # the first line of the window may be cut
        self.recent = {i for i in (self._id(line) for line in lines) if i}

    def _id(self, line: str) -> str | None:
        try:
            return self.id_of(line)
        except (ValueError, IndexError):
            return None

    def append(self, execution_id: str, line: str) -> bool:
        """Append ``line`` unless it is already among the last lines; False if it was."""
        if execution_id in self.recent:
            return False
        data = line.encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            before = os.fstat(fd).st_size
            try:
                written = os.write(fd, data)
                if written != len(data):
                    raise OSError(f"short write to {self.path} ({written} of {len(data)} bytes)")
                os.fsync(fd)
            except OSError:
                try:
                    os.ftruncate(fd, before)  # never leave half a line behind
                except OSError:
                    pass
                raise
        finally:
            os.close(fd)
        self.recent.add(execution_id)
        return True

    def settled(self, execution_id: str) -> None:
        """The store now says this record is written; forget it here."""
        self.recent.discard(execution_id)


def _sge_id(line: str) -> str | None:
    if not line or line.startswith("#"):
        return None
    return unescape(line.split(":")[SGE_FIELDS.index("job_name")])


def _csv_id(line: str) -> str | None:
    row = next(csv.reader([line]))
    return row[1] if len(row) == len(CSV_FIELDS) and row[1] != "execution_id" else None


class Ledger:
    """The SGE file and the CSV file together, held by one writer at a time."""

    def __init__(self, sge_path: Path, csv_path: Path, qname: str):
        self.qname = qname
        self.sge = AccountingFile(sge_path, _sge_id)
        self.csv = AccountingFile(csv_path, _csv_id, header=csv_header())
        self._lock_fh: TextIO | None = None

    def lock(self, wait: bool = True) -> bool:
        """Take the writer's lock (a second accounting process waits here as a standby)."""
        handle = open(self.sge.path.with_name(self.sge.path.name + ".lock"), "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.close()
            return False
        self._lock_fh = handle
        self.sge.open()
        self.csv.open()
        return True

    def write(self, record: dict) -> None:
        self.sge.append(record["execution_id"], sge_line(record, self.qname))
        self.csv.append(record["execution_id"], csv_line(record))

    def settled(self, execution_id: str) -> None:
        self.sge.settled(execution_id)
        self.csv.settled(execution_id)

    def close(self) -> None:
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None
