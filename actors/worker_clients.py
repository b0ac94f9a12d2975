"""The OAuth clients of token actors' workers, as the spawner, the workers and health use them.

The clientg process makes and deletes the clients (``actors/services/clientg.py``); these
functions ask it to, and read the tokens it keeps in the ``worker_clients`` store.
"""

from __future__ import annotations

import logging
import time

from actors import channels, crypto, oauth
from actors.config import Config
from actors.store import Stores

log = logging.getLogger(__name__)

REFRESH_MARGIN = 60.0   # seconds before expiry a worker swaps its access token


def request_client(config: Config, stores: Stores, broker: channels.Broker, actor: dict,
                   worker_id: str, wait=time.sleep) -> str:
    """Ask clientg for a worker's client and wait for it; '' when made, else why not."""
    request = {"command": "create", "worker_id": worker_id, "actor_id": actor["id"],
               "owner": actor["owner"], "tenant": actor.get("tenant", "default")}
    timeout = config.spawner.client_timeout
    for attempt in range(1, config.spawner.client_attempts + 1):
        try:
            broker.publish_json(channels.clients_queue(config), request)
        except channels.ChannelUnavailable as exc:
            log.warning("could not ask clientg for worker %s's client (attempt %s): %s", worker_id, attempt, exc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if stores.worker_clients.find(worker_id) is not None:
                return ""
            wait(0.1)
    return (f"no OAuth client from clientg after {config.spawner.client_attempts} attempt(s) of "
            f"{timeout:g} s; executions run without an access token")


def release_client(config: Config, broker: channels.Broker, worker_id: str) -> None:
    """Tell clientg a worker is gone (harmless when it never had a client)."""
    try:
        broker.publish_json(channels.clients_queue(config), {"command": "delete", "worker_id": worker_id})
    except channels.ChannelUnavailable as exc:
        log.warning("could not ask clientg to delete worker %s's client: %s", worker_id, exc)


def access_token(config: Config, stores: Stores, worker_id: str) -> str:
    """A current access token of the worker's client ('' if it has none)."""
    record = stores.worker_clients.find(worker_id)
    if record is None:
        return ""
    if record["expires_at"] - time.time() > REFRESH_MARGIN:
        return crypto.decrypt(config, record["access_token"]) or ""
    grant = oauth.refresh(config, stores, crypto.decrypt(config, record["refresh_token"]) or "")
    stores.worker_clients.update(worker_id, {"access_token": crypto.encrypt(config, grant["access_token"]),
                                             "refresh_token": crypto.encrypt(config, grant["refresh_token"]),
                                             "expires_at": time.time() + grant["expires_in"]})
    return grant["access_token"]
