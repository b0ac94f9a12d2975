"""The clientg process: OAuth clients for the workers of actors with ``token: true``.

When the spawner starts such a worker it asks clientg, on the clients channel, for a
client owned by the actor's owner; clientg creates it (``actors/oauth.py``), gets its
first access and refresh tokens and keeps them, encrypted with the platform's key
(``actors/crypto.py``), in the ``worker_clients`` store under the worker id. The worker
injects a fresh access token into each container (``_abaco_access_token``), refreshing
it when it is about to expire. When the worker
stops (or health reaps it) clientg is told to delete the client, which revokes every
token it was given.

Requests are idempotent (a second "create" for a worker that has a client does
nothing), so the spawner may retry. If clientg does not answer in time the worker
starts without a token and its record says why: a platform fault never puts the actor
in ERROR.
"""

from __future__ import annotations

import logging
import sys
import threading
import time

from actors import channels, crypto, oauth, times
from actors.auth import Identity
from actors.config import Config
from actors.services import command_line, start, stop_event
from actors.store import Stores, StoreUnavailable, open_stores

log = logging.getLogger("clientg")



class Clientg:
    def __init__(self, config: Config, stores: Stores, terminate: threading.Event | None = None):
        self.config, self.stores = config, stores
        self.terminate = terminate or threading.Event()

    def run(self) -> int:
        channels.serve(self.config, {channels.clients_queue(self.config): self.on_request}, self.terminate,
                       prefetch=10, on_ready=lambda conn: log.info("clientg ready"), retry_on=(StoreUnavailable,))
        return 0

    def on_request(self, delivery: channels.Delivery) -> None:
        request = delivery.data
        if request.get("command") == "create" and request.get("worker_id") and request.get("owner"):
            self.create(request)
        elif request.get("command") == "delete" and request.get("worker_id"):
            self.delete(request["worker_id"])
        else:
            log.error("dropping a malformed clients request: %r", delivery.body[:500])

    def create(self, request: dict) -> dict:
        worker_id = request["worker_id"]
        existing = self.stores.worker_clients.find(worker_id)
        if existing is not None:
            return existing
        if self.stores.workers.find(worker_id) is None:
            log.info("worker %s is gone; no client made for it", worker_id)
            return {}
        who = Identity(user=request["owner"], role="user", tenant=request.get("tenant") or "default")
        client = oauth.create_client(self.stores, who, name=f"worker-{worker_id}",
                                     description=f"worker {worker_id} of actor {request.get('actor_id')}")
        grant = oauth.client_credentials(self.config, self.stores, client["client_id"], client["client_secret"])
        # The secret is not kept: the refresh token renews access, deleting the client ends it.
        record = {"worker_id": worker_id, "actor_id": request.get("actor_id"), "client_id": client["client_id"],
                  "access_token": crypto.encrypt(self.config, grant["access_token"]),
                  "refresh_token": crypto.encrypt(self.config, grant["refresh_token"]),
                  "expires_at": time.time() + grant["expires_in"],
                  "create_time": times.now()}
        if not self.stores.worker_clients.create(worker_id, record):
            # Another clientg won the race: drop ours, keep theirs.
            oauth.delete_client(self.stores, self.stores.clients.get(client["client_id"]))
            return self.stores.worker_clients.get(worker_id)
        log.info("client %s made for worker %s of actor %s", client["client_id"], worker_id, request.get("actor_id"))
        return record

    def delete(self, worker_id: str) -> None:
        record = self.stores.worker_clients.find(worker_id)
        if record is None:
            return
        client = self.stores.clients.find(record["client_id"])
        if client is not None:
            oauth.delete_client(self.stores, client)
        self.stores.worker_clients.delete(worker_id)
        log.info("client %s of worker %s deleted", record["client_id"], worker_id)


def main(argv: list[str] | None = None) -> int:
    args = command_line("abaco-clientg", "Make and delete OAuth clients for the workers of token actors."
                        ).parse_args(argv)
    config = start("clientg", args)
    return Clientg(config, open_stores(config), stop_event()).run()


if __name__ == "__main__":
    sys.exit(main())
