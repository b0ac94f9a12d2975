"""The events process: each actor event goes to the actor's link and webhook.

The platform publishes events (ACTOR_READY, ACTOR_ERROR, EXECUTION_STARTED,
EXECUTION_COMPLETE) on the events exchange; every event is also kept in a durable
queue, so none is lost while this process is down. For each one:

- an actor with ``link`` set (another actor's id or alias) sends the event, as a JSON message,
  to that actor, executed as the actor's owner, if the event is one of its ``link_events``
  (EXECUTION_COMPLETE by default; at most one event per execution);
- an actor with ``webhook`` set gets every event as a JSON POST, tried
  ``[events] webhook_attempts`` times with growing pauses, each within
  ``[events] webhook_timeout`` seconds.

Links may not form a cycle (checked when one is set: ``check_link``). A message sent
through a link carries how many links it has crossed (``_abaco_link_depth``, kept on the
execution it starts and in its headers, which the worker passes back with that execution's
events); one that would cross more than ``[events] link_max_depth`` is not sent, so even a
cycle made by racing updates cannot loop forever (actors/links.py).
"""

from __future__ import annotations

import json
import logging
import sys
import threading

from actors import channels, links, mailbox, webhooks
from actors.codes import ActorStatus
from actors.config import Config
from actors.errors import TooManyRequestsError
from actors.services import command_line, start, stop_event
from actors.store import Stores, StoreUnavailable, open_stores

log = logging.getLogger("events")


class Events:
    def __init__(self, config: Config, stores: Stores, broker: channels.Broker,
                 terminate: threading.Event | None = None):
        self.config, self.stores, self.broker = config, stores, broker
        self.terminate = terminate or threading.Event()

    def run(self) -> int:
        channels.serve(self.config, {channels.deliveries_queue(self.config): self.on_event}, self.terminate,
                       prefetch=10, on_ready=lambda conn: log.info("events ready"),
                       retry_on=(StoreUnavailable, channels.ChannelUnavailable))
        return 0

    def on_event(self, delivery: channels.Delivery) -> None:
        event = delivery.data
        if event.get("event_type") and event.get("actor_id"):
            self.deliver(event)
        else:
            log.error("dropping a malformed event: %r", delivery.body[:500])

    def deliver(self, event: dict) -> None:
        actor = self.stores.actors.find(event["actor_id"])
        if actor is None or not (actor.get("link") or actor.get("webhook")):
            return
        execution = self.stores.executions.find(event["execution_id"]) if event.get("execution_id") else None
        depth = links.depth_of(event, execution)
        message = {k: v for k, v in event.items() if k != "link_depth"}
        message.update({"actor_name": actor.get("name"), "owner": actor.get("owner"), "_abaco_link_depth": depth})
        if links.forwards(actor, event["event_type"]):
            self._to_link(actor, {**message, "_abaco_link_depth": depth + 1}, execution)
        if actor.get("webhook"):
            self._to_webhook(actor, message)

    def _to_link(self, actor: dict, message: dict, execution: dict | None) -> None:
        """Send ``message`` (which counts the link it is about to cross) to the actor's link."""
        depth, max_depth = message["_abaco_link_depth"], self.config.events.link_max_depth
        if not links.within_depth(depth, max_depth):
            why = (f"event {message['event_type']} was not sent to linked actor {actor['link']}: it would "
                   f"cross link {depth} of a chain, and [events] link_max_depth is {max_depth}")
            log.warning("actor %s: %s", actor["id"], why)
            if execution is not None:
                self.stores.executions.update(execution["id"], {"link_stopped": why})
            return
        target = links.resolve(self.stores, actor.get("tenant", "default"), actor["link"])
        if target is None:
            log.warning("actor %s links to %s, which does not exist; event dropped", actor["id"], actor["link"])
            return
        if target.get("status") == ActorStatus.ERROR:
            log.warning("linked actor %s is in ERROR; event of %s dropped", target["id"], actor["id"])
            return
        try:
            sent = mailbox.send(self.config, self.stores, self.broker, target, json.dumps(message).encode(),
                                "application/json", executor=actor["owner"], link_depth=depth)
        except TooManyRequestsError as exc:
            log.warning("event %s of actor %s dropped: %s", message["event_type"], actor["id"], exc)
            return
        log.info("event %s of actor %s sent to linked actor %s (execution %s, link depth %s)",
                 message["event_type"], actor["id"], target["id"], sent["id"], depth)

    def _to_webhook(self, actor: dict, message: dict) -> None:
        """POST the event, checked and pinned to the checked address each time (actors/webhooks.py)."""
        attempts = max(1, self.config.events.webhook_attempts)
        body = json.dumps(message).encode()
        for attempt in range(1, attempts + 1):
            try:
                status = webhooks.post(self.config.events.webhook_hosts, actor["webhook"], body,
                                       self.config.events.webhook_timeout)
                if status < 300:
                    return
                problem = f"HTTP {status}"        # a redirect too: it is never followed
            except webhooks.DeliveryError as exc:
                problem = str(exc)
            if attempt < attempts and not self.terminate.wait(2 ** (attempt - 1)):
                continue
            log.warning("webhook of actor %s did not take event %s after %s attempt(s): %s",
                        actor["id"], message["event_type"], attempt, problem)
            return


def main(argv: list[str] | None = None) -> int:
    args = command_line("abaco-events", "Pass actor events to linked actors and webhooks.").parse_args(argv)
    config = start("events", args)
    return Events(config, open_stores(config), channels.Broker(config), stop_event()).run()


if __name__ == "__main__":
    sys.exit(main())
