"""Where the autoscaler reads demand: Prometheus's query API, or the queues and stores directly.

Both sources answer the same question (:class:`Reading`): per actor, the messages queued, the
executions running and the workers ready; per spawner queue, the start commands waiting.
:class:`PrometheusSource` reads the figures the API's ``/metrics`` exposes, as scraped by the
Prometheus `make up` starts (only series of this instance, by the ``abaco_instance`` label the
rendered prometheus.yml adds, and only while Prometheus scrapes the API successfully);
:class:`DirectSource` asks RabbitMQ and the stores. :class:`FallbackSource` tries them in order,
each tick, and says which one answered: Prometheus going away never stops the scaling.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol

import requests

from actors import channels
from actors.codes import WorkerStatus
from actors.config import Config
from actors.store import Stores

log = logging.getLogger(__name__)

SCRAPE_JOB = "abaco"         # the job name of the API in prometheus/prometheus.yml


class SourceUnavailable(Exception):
    """The source could not give a reading now."""


@dataclass(frozen=True)
class Figures:
    queued: int = 0
    running: int = 0
    ready: int = 0


@dataclass
class Reading:
    source: str
    actors: dict[str, Figures] = field(default_factory=dict)
    command_queues: dict[str, int] = field(default_factory=dict)

    def of(self, actor_id: str) -> Figures:
        return self.actors.get(actor_id, Figures())


class Source(Protocol):
    name: str

    def read(self, actor_ids: Iterable[str], queues: Iterable[str]) -> Reading:
        """Figures of these actors and spawner queues; SourceUnavailable when it cannot."""


class DirectSource:
    """RabbitMQ's queue lengths and the worker records: always current, costs a query per actor."""

    name = "direct"

    def __init__(self, config: Config, stores: Stores, broker: channels.Broker):
        self.config, self.stores, self.broker = config, stores, broker

    def read(self, actor_ids: Iterable[str], queues: Iterable[str]) -> Reading:
        out = Reading(self.name)
        try:
            for actor_id in actor_ids:
                workers = self.stores.workers.group_docs(actor_id)
                busy = sum(1 for w in workers if w.get("status") == WorkerStatus.BUSY)
                ready = sum(1 for w in workers if w.get("status") == WorkerStatus.READY) + busy
                out.actors[actor_id] = Figures(
                    self.broker.queue_length(channels.actor_queue(self.config, actor_id)), busy, ready)
            for queue in queues:
                out.command_queues[queue] = self.broker.queue_length(channels.command_queue(self.config, queue))
        except channels.ChannelUnavailable as exc:
            raise SourceUnavailable(f"RabbitMQ: {exc}") from exc
        return out


class PrometheusSource:
    """The latest scraped figures of this instance, through Prometheus's HTTP query API."""

    name = "prometheus"

    def __init__(self, config: Config, get: Callable[..., requests.Response] = requests.get, timeout: float = 2.0):
        self.url = config.prometheus_url.rstrip("/") + "/api/v1/query"
        self.instance = config.general.instance
        self.get, self.timeout = get, timeout

    def _query(self, promql: str) -> list[dict]:
        try:
            reply = self.get(self.url, params={"query": promql}, timeout=self.timeout)
            body = reply.json()
        except (requests.RequestException, ValueError) as exc:
            raise SourceUnavailable(f"Prometheus at {self.url}: {exc}") from exc
        if reply.status_code != 200 or body.get("status") != "success":
            raise SourceUnavailable(f"Prometheus at {self.url} answered {reply.status_code}: "
                                    f"{body.get('error', '')}")
        return body.get("data", {}).get("result", [])

    def read(self, actor_ids: Iterable[str], queues: Iterable[str]) -> Reading:
        sel = f'abaco_instance="{self.instance}"'
        up = self._query(f'up{{job="{SCRAPE_JOB}",{sel}}}')
        if not up or any(float(r["value"][1]) < 1 for r in up):
            raise SourceUnavailable(f"Prometheus does not scrape the API of instance {self.instance} "
                                    f"successfully now")
        series = self._query(f'{{__name__=~"abaco_actor_queue_depth|abaco_actor_workers|'
                             f'abaco_command_queue_depth",{sel}}}')
        queued: dict[str, int] = {}
        busy: dict[str, int] = {}
        ready: dict[str, int] = {}
        out = Reading(self.name)
        for item in series:
            labels, value = item.get("metric", {}), int(float(item["value"][1]))
            name, actor = labels.get("__name__"), labels.get("actor", "")
            if name == "abaco_actor_queue_depth":
                queued[actor] = value
            elif name == "abaco_actor_workers" and labels.get("status") == WorkerStatus.BUSY:
                busy[actor] = value
                ready[actor] = ready.get(actor, 0) + value
            elif name == "abaco_actor_workers" and labels.get("status") == WorkerStatus.READY:
                ready[actor] = ready.get(actor, 0) + value
            elif name == "abaco_command_queue_depth":
                out.command_queues[labels.get("queue", "")] = value
        for actor_id in actor_ids:
            out.actors[actor_id] = Figures(queued.get(actor_id, 0), busy.get(actor_id, 0), ready.get(actor_id, 0))
        for queue in queues:
            out.command_queues.setdefault(queue, 0)
        return out


class FallbackSource:
    """The first of ``sources`` that answers, tick by tick; a change of source is logged once."""

    def __init__(self, sources: list[Source]):
        self.sources = sources
        self.name = sources[0].name
        self.last_used = ""
        self.last_problem = ""

    def read(self, actor_ids: Iterable[str], queues: Iterable[str]) -> Reading:
        actor_ids, queues = list(actor_ids), list(queues)
        problems = []
        for source in self.sources:
            try:
                reading = source.read(actor_ids, queues)
            except SourceUnavailable as exc:
                problems.append(str(exc))
                continue
            if reading.source != self.last_used:
                level = logging.INFO if source is self.sources[0] else logging.WARNING
                log.log(level, "autoscaler reads from %s%s", reading.source,
                        f" ({'; '.join(problems)})" if problems else "")
            self.last_used, self.last_problem = reading.source, "; ".join(problems)
            return reading
        raise SourceUnavailable("; ".join(problems))


def for_config(config: Config, stores: Stores, broker: channels.Broker) -> FallbackSource:
    direct = DirectSource(config, stores, broker)
    if config.autoscaler.source == "direct":
        return FallbackSource([direct])
    return FallbackSource([PrometheusSource(config), direct])
