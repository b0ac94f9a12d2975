"""Which OCI runtime execution containers run under.

``[workers] runtime`` names one (``crun`` by default: it creates and starts a container in
about half the time of runc). The guarantee: a container is only ever asked for a runtime
the engine has registered. When the engine lacks it (an engine the project did not start,
without ``--add-runtime crun=...``), containers use the engine's default runtime and the
process says so once in its log; an empty setting means the engine's default always.
"""

from __future__ import annotations

import logging
from typing import Callable, Iterable

log = logging.getLogger(__name__)


def choose(wanted: str, registered: Iterable[str], default: str = "",
           report: Callable[[str], None] | None = None) -> str | None:
    """The runtime name to pass to the engine, or None for the engine's default.

    ``registered`` are the engine's runtimes (``docker info``'s Runtimes), ``default`` its
    default runtime; ``report`` receives the one line said when ``wanted`` is missing.
    """
    wanted = (wanted or "").strip()
    if not wanted:
        return None
    names = set(registered)
    if wanted in names:
        return None if wanted == default else wanted
    (report or log.warning)(
        f"the Docker engine has no runtime {wanted!r} (it has {', '.join(sorted(names)) or 'none'}); "
        f"execution containers use the engine's default runtime {default or '(unknown)'!s}")
    return None


def engine_runtimes(info: dict) -> tuple[list[str], str]:
    """The runtimes an engine registered and its default, from ``docker info``."""
    return sorted((info.get("Runtimes") or {}).keys()), str(info.get("DefaultRuntime") or "")
