"""The SGE accounting(5) and CSV files: format, parse-back, crash and duplicate safety."""

from __future__ import annotations

import csv

import pytest

from actors.accounting_files import CSV_FIELDS, SGE_FIELDS, AccountingFile, Ledger, parse_sge_line, read_sge, sge_line
from actors.usage import summarise


def record(n: int = 1, **changes) -> dict:
    base = {
        "job_number": n, "execution_id": f"ex{n}", "actor_id": "act1", "worker_id": "w1",
        "owner": "alice", "executor": "bob", "tenant": "default", "host": "node:1",
        "image": "abaco/echo:local", "submit_time": "2026-11-24T10:00:00.250000Z",
        "start_time": "2026-11-24T10:00:01.500000Z", "end_time": "2026-11-24T10:00:04.900000Z",
        "runtime": 3.4, "exit_code": 0, "cpu_ns": 1234567891, "memory_peak": 7340032,
        "io_bytes": 123457, "status": "COMPLETE", "reason": "", "attempts": 1,
    }
    base.update(changes)
    return base


def test_line_has_45_fields_and_reads_back():
    rec = record(reason="killed: cpu budget; 2.0 s\nused", status="ERROR", exit_code=137)
    line = sge_line(rec, "abaco")
    assert line.endswith("\n") and line.count("\n") == 1
    assert len(line.rstrip("\n").split(":")) == len(SGE_FIELDS) == 45
    back = parse_sge_line(line)
    for key in ("execution_id", "actor_id", "owner", "executor", "tenant", "host", "image", "exit_code",
                "cpu_ns", "memory_peak", "io_bytes", "status", "reason", "attempts", "job_number"):
        assert back[key] == rec[key], key
    assert back["runtime"] == pytest.approx(3.4)
    assert back["submit_time"] == 1795514400 and back["end_time"] == 1795514404
    assert back["failed"] == 100 and back["qname"] == "abaco"


def test_fields_sit_where_sge_tools_expect_them():
    fields = dict(zip(SGE_FIELDS, sge_line(record(), "q").rstrip("\n").split(":"), strict=True))
    assert fields["owner"] == "alice" and fields["job_number"] == "1"
    assert fields["exit_status"] == "0" and fields["failed"] == "0"
    assert fields["ru_maxrss"] == str(7340032 // 1024) and fields["maxvmem"] == "7340032"
    assert float(fields["cpu"]) == pytest.approx(1.234567891)
    assert fields["hostname"] == "node%3A1" and fields["slots"] == "1"


def test_user_and_system_time_and_the_memory_integral_are_written():
    rec = record(cpu_ns=3_000_000_000, cpu_user_ns=2_250_000_000, cpu_system_ns=750_000_000, mem_gbs=1.5)
    fields = dict(zip(SGE_FIELDS, sge_line(rec, "q").rstrip("\n").split(":"), strict=True))
    assert float(fields["ru_utime"]) == 2.25 and float(fields["ru_stime"]) == 0.75
    assert float(fields["cpu"]) == 3.0 and float(fields["mem"]) == 1.5
    back = parse_sge_line(sge_line(rec, "q"))
    assert (back["cpu_user_ns"], back["cpu_system_ns"], back["mem_gbs"]) == (2_250_000_000, 750_000_000, 1.5)


def test_malformed_line_is_refused():
    with pytest.raises(ValueError):
        parse_sge_line("a:b:c\n")


def test_partial_last_line_is_cut_and_recent_ids_are_not_written_again(tmp_path):
    path = tmp_path / "accounting"
    path.write_text(sge_line(record(1), "q") + sge_line(record(2), "q")[:30])
    f = AccountingFile(path, lambda line: parse_sge_line(line)["execution_id"])
    f.open()
    assert f.recent == {"ex1"}
    assert f.append("ex1", sge_line(record(1), "q")) is False
    assert f.append("ex2", sge_line(record(2), "q")) is True
    assert f.append("ex2", sge_line(record(2), "q")) is False      # appended, not yet settled
    f.settled("ex2")
    assert [r["execution_id"] for r in read_sge(path)] == ["ex1", "ex2"]


def test_ledger_writes_both_files_and_one_writer_at_a_time(tmp_path):
    first = Ledger(tmp_path / "acct", tmp_path / "acct.csv", "q")
    assert first.lock(wait=False)
    second = Ledger(tmp_path / "acct", tmp_path / "acct.csv", "q")
    assert second.lock(wait=False) is False
    recs = [record(n, cpu_ns=n * 10**9) for n in range(1, 4)]
    for rec in recs:
        first.write(rec)
    first.close()
    assert [r["cpu_ns"] for r in read_sge(tmp_path / "acct")] == [10**9, 2 * 10**9, 3 * 10**9]
    with open(tmp_path / "acct.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(CSV_FIELDS)
    assert [row["execution_id"] for row in rows] == ["ex1", "ex2", "ex3"]
    # Reopening (a restart) keeps the header single and skips what is already there.
    again = Ledger(tmp_path / "acct", tmp_path / "acct.csv", "q")
    assert again.lock(wait=False)
    again.write(recs[2])
    again.close()
    assert len(read_sge(tmp_path / "acct")) == 3
    assert (tmp_path / "acct.csv").read_text().count("job_number") == 1


def test_summary_totals_per_user_and_actor():
    recs = [record(1, owner="alice", actor_id="a", cpu_ns=2 * 10**9, runtime=1.0, io_bytes=10),
            record(2, owner="alice", actor_id="b", cpu_ns=10**9, runtime=2.0, status="ERROR", io_bytes=5),
            record(3, owner="bob", actor_id="c", cpu_ns=5 * 10**8, runtime=0.5, memory_peak=99)]
    out = summarise(recs)
    assert out["total"]["executions"] == 3 and out["total"]["cpu_seconds"] == 3.5
    assert out["total"]["error"] == 1 and out["total"]["io_bytes"] == 15 + 123457
    alice = next(u for u in out["users"] if u["user"] == "alice")
    assert alice["executions"] == 2 and alice["runtime_seconds"] == 3.0
    assert {a["actor_id"] for a in out["actors"]} == {"a", "b", "c"}
    assert summarise([])["total"]["executions"] == 0
