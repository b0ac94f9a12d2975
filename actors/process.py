"""What every long-running process shares: structured logging and clean SIGTERM handling."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time

from actors import config as config_mod
from actors.config import Config


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
    logging.getLogger("pika").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("docker").setLevel(logging.WARNING)
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


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes.
    try:
        with open(f"/proc/{int(pid)}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
