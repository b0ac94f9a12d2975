"""The supervisord configuration that runs the platform's processes on one host (``make up``).

Every process in :data:`actors.services.PROCESSES`, plus nginx as ``tls``, becomes one
supervisord program: started at once, restarted at once whenever it exits (a crash, a
``kill -9``), stopped with SIGTERM to its process group and SIGKILL after a grace period,
each with its own log in the log directory. Workers are not programs: the spawner starts
them in sessions of their own, so a spawner restart leaves them running.

The programs inherit supervisord's environment, so the ``ABACO_*`` settings of the shell
that ran ``make up`` reach them as they would reach a process started by hand. The control
socket is in the run directory and only its owner may use it (``chmod=0700``).

``python -m actors.supervision --bin DIR`` prints the configuration for the current
settings; ``scripts/stack.sh`` writes it to ``<data_dir>/supervisor/supervisord.conf``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from actors import config as config_mod
from actors.config import REPO_ROOT, Config
from actors.services import PROCESSES

# Seconds a program gets between SIGTERM and SIGKILL (the API drains its requests, a
# spawner hands back its commands); scripts/stack.sh waits a little longer than this.
STOP_GRACE = 20
# A program that exits within this many seconds of starting has failed to start; it is
# tried again (with supervisord's growing back-off) up to START_RETRIES times, then left
# FATAL for `make status` to show. A program that ran longer is restarted at once.
START_SECONDS = 1
START_RETRIES = 20
LOG_BYTES = "50MB"
LOG_BACKUPS = 3


@dataclass(frozen=True)
class Program:
    name: str
    argv: tuple[str, ...]


def control_socket(config: Config) -> Path:
    return config.run_dir / "supervisor.sock"


def conf_path(config: Config) -> Path:
    return config.general.data_dir / "supervisor" / "supervisord.conf"


def pidfile(config: Config) -> Path:
    return config.pid_dir / "supervisord.pid"


def pid(config: Config, name: str) -> int | None:
    """The pid of the supervised program ``name`` while it runs (None if it does not, or if
    supervisord does not answer)."""
    try:
        out = subprocess.run(["supervisorctl", "-c", str(conf_path(config)), "pid", name],
                             capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return int(out) if out.isdigit() and int(out) > 0 else None


def programs(config: Config, bin_dir: Path) -> list[Program]:
    """The supervised programs: every platform process, then nginx (the HTTPS listener)."""
    out = [Program(p.name, (str(bin_dir / p.command),)) for p in PROCESSES]
    out.append(Program("tls", (str(bin_dir / "python"), "-m", "actors.tls_proxy", "--serve")))
    return out


def _value(text: str) -> str:
    """A setting's value as supervisord reads it: '%' starts its expansions, so it is doubled.
    Paths are taken as they are (no quoting); a newline could start a new setting."""
    if "\n" in text or "\r" in text:
        raise ValueError(f"a line break in a supervised path or command: {text!r}")
    return text.replace("%", "%%")


def _quote(word: str) -> str:
    """One word of a ``command=`` line, which supervisord splits with shell rules."""
    if word and all(c.isalnum() or c in "/._-:=@+," for c in word):
        return _value(word)
    return _value('"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"')


def render(config: Config, bin_dir: Path) -> str:
    log_dir = config.log_dir
    lines = [
        "; Written by scripts/stack.sh on every 'up' from the platform's settings (actors/supervision.py);",
        "; edit abaco.conf instead.",
        "[unix_http_server]",
        f"file={_value(str(control_socket(config)))}",
        "chmod=0700",
        "",
        "[supervisord]",
        "nodaemon=true",
        f"logfile={_value(str(log_dir / 'supervisord.log'))}",
        f"logfile_maxbytes={LOG_BYTES}",
        f"logfile_backups={LOG_BACKUPS}",
        f"pidfile={_value(str(pidfile(config)))}",
        f"childlogdir={_value(str(log_dir))}",
        f"directory={_value(str(REPO_ROOT))}",
        # Logs hold user names, ids and request lines: the platform's only.
        "umask=077",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{_value(str(control_socket(config)))}",
    ]
    for program in programs(config, bin_dir):
        lines += [
            "",
            f"[program:{program.name}]",
            "command=" + " ".join(_quote(w) for w in program.argv),
            f"directory={_value(str(REPO_ROOT))}",
            # supervisord runs with umask 077 (its logs are the platform's only); the programs
            # keep the usual 022: the scratch folders and sockets they make are for containers.
            "umask=022",
            "autostart=true",
            "autorestart=true",
            f"startsecs={START_SECONDS}",
            f"startretries={START_RETRIES}",
            "stopsignal=TERM",
            f"stopwaitsecs={STOP_GRACE}",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={_value(str(log_dir / f'{program.name}.log'))}",
            f"stdout_logfile_maxbytes={LOG_BYTES}",
            f"stdout_logfile_backups={LOG_BACKUPS}",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actors.supervision",
                                     description="Print the supervisord configuration of the platform's processes.")
    parser.add_argument("--bin", type=Path, default=Path(sys.executable).parent,
                        help="the directory holding the console scripts (default: this Python's)")
    parser.add_argument("--config", help="the configuration file (default: $ABACO_CONF or abaco.conf)")
    args = parser.parse_args(argv)
    config = config_mod.load(args.config)
    sys.stdout.write(render(config, args.bin))
    return 0


if __name__ == "__main__":
    sys.exit(main())
