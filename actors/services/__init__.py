"""The platform's long-running processes, one module each with ``main()``, and what they share.

``PROCESSES`` is the one list of the processes a stack runs (scripts/stack.sh, the test
fixtures and the benchmarks read it; ``python -m actors.services`` prints it). Workers
are not in it: the spawner starts them, one per actor instance.

Every process starts the same way (:func:`start`): parse ``--config`` and ``--help``,
read the configuration once, log one JSON object per line to stderr, and turn SIGTERM
and SIGINT into an Event its loop watches, so it finishes what it holds and exits.
The stores, the broker and the Docker runtime are built in ``main()`` and passed in, so
a process's decisions can be tested with in-memory doubles.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass

from actors import config as config_mod
from actors.config import Config


@dataclass(frozen=True)
class Process:
    name: str          # as in `make status`, log and pid file names
    command: str       # its console script
    summary: str


PROCESSES: tuple[Process, ...] = (
    Process("api", "abaco-api", "the HTTP API (gunicorn), on [web] host:port and the unix socket"),
    Process("spawner", "abaco-spawner", "starts actor workers on this host"),
    Process("health", "abaco-health", "reaps dead workers, cleans leftovers, fires cron schedules"),
    Process("accounting", "abaco-accounting", "keeps one accounting record per finished execution"),
    Process("clientg", "abaco-clientg", "OAuth clients for the workers of token actors"),
    Process("events", "abaco-events", "passes actor events to linked actors and webhooks"),
    Process("autoscaler", "abaco-autoscaler", "adds and stops workers of autoscaled actors (one active, a lease)"),
    Process("logstream", "abaco-logstream", "serves live execution logs as server-sent events, on [logstream] port"),
)
NAMES = tuple(p.name for p in PROCESSES)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: easy to grep, easy to ship."""

    def __init__(self, process: str):
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) +
               f".{int(record.msecs):03d}Z",
               "level": record.levelname, "process": self.process, "logger": record.name,
               "message": record.getMessage()}
        for key, value in getattr(record, "fields", {}).items():
            out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(process: str, config: Config) -> logging.Logger:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(process))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(config.general.log_level.upper())
    for noisy in ("pika", "urllib3", "docker"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return logging.getLogger(process)


def stop_event() -> threading.Event:
    """An Event set by SIGTERM or SIGINT, for loops that should finish their work and exit."""
    event = threading.Event()

    def handler(signum, _frame):
        logging.getLogger("process").info("received signal %s, stopping", signal.Signals(signum).name)
        event.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return event


def command_line(prog: str, description: str) -> argparse.ArgumentParser:
    """The argument parser every process starts from (it knows ``--config``)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", help="path to abaco.conf (default: $ABACO_CONF or ./abaco.conf)")
    return parser


def start(process: str, args: argparse.Namespace) -> Config:
    """Load the configuration named on the command line and set up logging."""
    config = config_mod.load(args.config)
    setup_logging(process, config)
    return config


def main(argv: list[str] | None = None) -> int:
    """``python -m actors.services``: one line per process, ``name command``."""
    parser = argparse.ArgumentParser(prog="python -m actors.services",
                                     description="List the platform's processes: name and console script.")
    parser.parse_args(argv)
    for process in PROCESSES:
        print(process.name, process.command)
    return 0

