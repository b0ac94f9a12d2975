"""The supervisord configuration of `make up`, and the TLS proxy's clean-up of a killed master."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest

from actors import supervision, tls_proxy
from actors.services import PROCESSES


def parse(text: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    return parser


def test_every_platform_process_and_nginx_is_a_restarting_program_with_its_own_log(config):
    conf = parse(supervision.render(config, Path("/venv/bin")))
    names = [s.split(":", 1)[1] for s in conf.sections() if s.startswith("program:")]
    assert names == [p.name for p in PROCESSES] + ["tls"]
    for process in PROCESSES:
        section = conf[f"program:{process.name}"]
        assert shlex.split(section["command"]) == [f"/venv/bin/{process.command}"]
        assert section["autorestart"] == "true" and section["autostart"] == "true"
        assert section["stdout_logfile"] == str(config.log_dir / f"{process.name}.log")
        assert section["stopasgroup"] == section["killasgroup"] == "true"
        assert section["umask"] == "022"     # what they make for containers stays readable
    assert shlex.split(conf["program:tls"]["command"]) == ["/venv/bin/python", "-m", "actors.tls_proxy", "--serve"]
    # Only the platform's user may drive it; its files are the platform's only.
    assert conf["unix_http_server"]["chmod"] == "0700"
    assert conf["supervisord"]["umask"] == "077"
    assert conf["supervisord"]["nodaemon"] == "true"
    assert conf["supervisord"]["pidfile"] == str(config.pid_dir / "supervisord.pid")


def test_paths_with_spaces_and_percent_signs_reach_supervisord_intact(config):
    conf = parse(supervision.render(config, Path("/opt/my venv/100%/bin")))
    command = conf["program:api"]["command"].replace("%%", "%")   # supervisord's own expansion
    assert shlex.split(command) == ["/opt/my venv/100%/bin/abaco-api"]


def test_a_line_break_in_a_path_is_refused_not_written_as_a_new_setting(config):
    with pytest.raises(ValueError, match="line break"):
        supervision.render(config, Path("/venv/bin\n[program:evil]"))


def fake_proc(root: Path, pid: int, comm: str, pgrp: int) -> None:
    entry = root / str(pid)
    entry.mkdir()
    (entry / "comm").write_text(comm + "\n")
    (entry / "stat").write_text(f"{pid} ({comm} x) S 1 {pgrp} {pgrp} 0 -1\n")


def test_tls_finds_the_workers_a_killed_nginx_master_left_and_nothing_else(tmp_path):
    proc = tmp_path / "proc"
    proc.mkdir()
    pidfile = tmp_path / "nginx.pid"
    pidfile.write_text("500\n")
    fake_proc(proc, 501, "nginx", 500)      # an orphaned worker of master 500 (gone)
    fake_proc(proc, 502, "nginx", 500)
    fake_proc(proc, 503, "python3", 500)    # not nginx: left alone
    fake_proc(proc, 601, "nginx", 600)      # another nginx: left alone
    assert sorted(tls_proxy.orphans(pidfile, proc)) == [501, 502]


def test_tls_leaves_the_workers_of_a_live_master_alone(tmp_path):
    proc = tmp_path / "proc"
    proc.mkdir()
    pidfile = tmp_path / "nginx.pid"
    pidfile.write_text("500\n")
    fake_proc(proc, 500, "nginx", 500)
    fake_proc(proc, 501, "nginx", 500)
    assert tls_proxy.orphans(pidfile, proc) == []
    assert tls_proxy.orphans(tmp_path / "missing.pid", proc) == []
