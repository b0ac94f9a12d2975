"""Host ids and host labels: what they may hold, and the command queues they select.

An actor's ``host_labels`` must all be among a host's labels for the actor's workers to
start there. The match is made by RabbitMQ, not by the spawners: a start command goes
to the one queue named for the actor's ``queue`` and its (sorted) label set, and a
spawner consumes the queues of every subset of its own labels (the empty set included).
So a command is only ever delivered to a spawner that can serve it, and one that no
host can serve waits in its queue (never bounced between spawners, never lost) until a
host with those labels comes up.

A leaf module (no platform imports), so the configuration can check its settings here.
"""

from __future__ import annotations

import itertools
import re
from typing import Iterable

LABEL = re.compile(r"^[A-Za-z0-9_.=:-]{1,32}$")
HOST_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# A spawner consumes 2**n queues for n labels of its own: keep n small.
MAX_LABELS = 6
LABELS_MARK = ".on."      # <instance>.command.<queue>.on.<label>+<label>


def check_labels(labels: Iterable[str]) -> str:
    """Why these labels are refused ('' when they are fine)."""
    labels = list(labels)
    if len(labels) > MAX_LABELS:
        return f"at most {MAX_LABELS} host labels; got {len(labels)}"
    for label in labels:
        if not isinstance(label, str) or not LABEL.match(label):
            return (f"host label {label!r} must be 1-32 letters, digits, '_', '.', '=', ':' or '-' "
                    f"(e.g. gpu, zone=a)")
    return ""


def check_host(host_id: str, labels: Iterable[str]) -> str:
    """Why a spawner's host_id or host_labels are refused ('' when they are fine)."""
    if not HOST_ID.match(host_id or ""):
        return f"host_id {host_id!r} must be 1-64 letters, digits, '_', '.' or '-'"
    problem = check_labels(labels)
    return f"host_labels: {problem}" if problem else ""


def normalise(labels: Iterable[str]) -> tuple[str, ...]:
    """One spelling of a label set: sorted, without repeats."""
    return tuple(sorted(set(labels)))


def queue_suffix(labels: Iterable[str]) -> str:
    """What a label set adds to a command queue's name ('' for none)."""
    labels = normalise(labels)
    return LABELS_MARK + "+".join(labels) if labels else ""


def subsets(labels: Iterable[str]) -> list[tuple[str, ...]]:
    """Every label set a host with ``labels`` serves, the empty one first."""
    labels = normalise(labels)
    return [combo for size in range(len(labels) + 1) for combo in itertools.combinations(labels, size)]


def serves(host_labels: Iterable[str], wanted: Iterable[str]) -> bool:
    """Whether a host with ``host_labels`` may run an actor that asks for ``wanted``."""
    return set(wanted) <= set(host_labels)
