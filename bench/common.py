"""What the benchmarks share: a client of the running stack, and an actor that is deleted afterwards.

Every benchmark talks to the stack ``make up`` started, as a user would; waiting for it
goes through ``actors.readiness`` (refused and timed out alike mean "not yet", one deadline).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors import auth  # noqa: E402
from actors import config as config_mod  # noqa: E402
from actors.config import Config  # noqa: E402
from actors.readiness import api_answers, wait_until  # noqa: E402
from actors.sdk.client import Client  # noqa: E402


def stack_client(user: str = "bench", role: str = "user", timeout: float = 120.0) -> tuple[Config, Client]:
    """The configuration and a client of the running stack, once its API answers."""
    cfg = config_mod.load()
    url = cfg.web.api_server.rstrip("/")
    wait_until(lambda: api_answers(url), 120, f"the API at {url} (start it with `make up`)",
               logs=[cfg.log_dir / "api.log"])
    return cfg, Client(url, auth.issue_token(cfg, user, role), timeout=timeout)


@contextlib.contextmanager
def ready_actor(client: Client, image: str, wait: bool = True, **fields) -> Iterator[dict]:
    """Register an actor, wait until it is READY (unless not ``wait``), yield it, delete it at the end."""
    actor = client.create_actor(image, **fields)
    try:
        yield client.wait_ready(actor["id"]) if wait else actor
    finally:
        client.delete_actor(actor["id"])
