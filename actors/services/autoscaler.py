"""The autoscaler process: adds and stops workers of the actors registered with ``autoscale``.

One autoscaler is active at a time: it holds a lease in the ``autoscaling`` store (renewed
every tick, lasting ``[autoscaler] lease_ttl`` seconds); the others stand by and the first to
see the lease expire takes over. Each tick the active one reads demand from its source
(Prometheus, or the queues and stores when Prometheus does not answer:
actors/autoscale_sources.py), applies the rule of actors/autoscale.py to every autoscaled
actor, asks a spawner for the workers it lacks (``start_worker`` commands) or tells idle
workers to stop, and keeps the last decisions for ``GET /actors/{id}/autoscaling``. The
samples behind the decisions are kept with them, so an autoscaler that takes over goes on
from the same history (no scale-down is delayed by a takeover).

It also serves, on ``[autoscaler] listen`` (loopback), its own ``/metrics`` (decisions,
source in use, cold starts) and ``POST /alerts``, AlertManager's webhook, which triggers a
tick at once. Both need the scrape token of the data directory as a bearer token.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import socket
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from actors import __version__, autoscale, channels, commands, credentials, quotas, times
from actors.autoscale import DOWN, UP, Decision, History, Sample
from actors.autoscale_sources import FallbackSource, Reading, SourceUnavailable, for_config
from actors.codes import ActorStatus, Role, WorkerStatus
from actors.config import Config
from actors.services import command_line, start, stop_event
from actors.store import Store, Stores, StoreUnavailable, open_stores

log = logging.getLogger("autoscaler")

LEASE_KEY = "lease"
COLD_START_BUCKETS = (0.5, 1, 2, 3, 5, 10, 20, 30, 60)
STOP_PENDING_FOR = 30.0     # seconds a worker told to stop is not counted (until it says STOPPING)
MAX_BODY = 1 << 20


class Lease:
    """Who is the active autoscaler: a compare-and-set record with an expiry time."""

    def __init__(self, store: Store, holder: str, ttl: float, clock: Callable[[], float] = time.time):
        self.store, self.holder, self.ttl, self.clock = store, holder, ttl, clock

    def hold(self) -> bool:
        """Take or renew the lease; False while another live holder has it."""
        now = self.clock()
        fresh = {"holder": self.holder, "expires_ms": int((now + self.ttl) * 1000), "since": now}
        current = self.store.find(LEASE_KEY)
        if current is None:
            return self.store.create(LEASE_KEY, fresh)
        mine = current.get("holder") == self.holder
        if not mine and current.get("expires_ms", 0) > now * 1000:
            return False
        if mine:
            fresh["since"] = current.get("since", now)
        expect = {"holder": current.get("holder"), "expires_ms": current.get("expires_ms")}
        return self.store.update(LEASE_KEY, fresh, expect=expect) is not None

    def release(self) -> None:
        self.store.update(LEASE_KEY, {"expires_ms": 0}, expect={"holder": self.holder})

    def current(self) -> dict | None:
        return self.store.find(LEASE_KEY)


class Figures:
    """The autoscaler's own metrics (this process's counts since it started)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.decisions: dict[tuple[str, str], int] = {}
        self.cold_starts: list[float] = []
        self.source = ""
        self.active = False
        self.ticks = 0

    def count(self, decision: Decision) -> None:
        reason = decision.reason.split(":")[0]          # the reason's kind, not its figures
        with self.lock:
            key = (decision.direction, reason)
            self.decisions[key] = self.decisions.get(key, 0) + 1

    def cold_start(self, seconds: float) -> None:
        with self.lock:
            self.cold_starts.append(max(0.0, seconds))

    def text(self) -> str:
        def label(v: str) -> str:
            return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        with self.lock:
            lines = ["# HELP abaco_autoscaler_decisions_total Autoscaling decisions, by direction and reason.",
                     "# TYPE abaco_autoscaler_decisions_total counter"]
            lines += [f'abaco_autoscaler_decisions_total{{direction="{label(d)}",reason="{label(r)}"}} {n}'
                      for (d, r), n in sorted(self.decisions.items())]
            lines += ["# HELP abaco_autoscaler_source Where the autoscaler read demand last (1: in use).",
                      "# TYPE abaco_autoscaler_source gauge"]
            lines += [f'abaco_autoscaler_source{{source="{s}"}} {int(self.source == s)}'
                      for s in ("prometheus", "direct")]
            lines += ["# HELP abaco_autoscaler_active 1 while this process holds the lease.",
                      "# TYPE abaco_autoscaler_active gauge", f"abaco_autoscaler_active {int(self.active)}",
                      "# HELP abaco_autoscaler_ticks_total Ticks run while active.",
                      "# TYPE abaco_autoscaler_ticks_total counter", f"abaco_autoscaler_ticks_total {self.ticks}",
                      "# HELP abaco_cold_start_seconds From a worker's request to its READY.",
                      "# TYPE abaco_cold_start_seconds histogram"]
            for bound in COLD_START_BUCKETS:
                below = sum(1 for v in self.cold_starts if v <= bound)
                lines.append(f'abaco_cold_start_seconds_bucket{{le="{float(bound)!r}"}} {below}')
            lines += [f'abaco_cold_start_seconds_bucket{{le="+Inf"}} {len(self.cold_starts)}',
                      f"abaco_cold_start_seconds_sum {float(sum(self.cold_starts))!r}",
                      f"abaco_cold_start_seconds_count {len(self.cold_starts)}"]
        return "\n".join(lines) + "\n"


class Autoscaler:
    def __init__(self, config: Config, stores: Stores, broker: channels.Broker, source: FallbackSource,
                 clock: Callable[[], float] = time.time, holder: str | None = None):
        self.config, self.stores, self.broker, self.source, self.clock = config, stores, broker, source, clock
        self.holder = holder or f"{socket.gethostname()}:{secrets.token_hex(4)}"
        self.lease = Lease(stores.autoscaling, self.holder, config.autoscaler.lease_ttl, clock)
        self.figures = Figures()
        self.histories: dict[str, list[Sample]] = {}
        self.stopping: dict[str, float] = {}        # worker id -> when it was told to stop
        self.seen_ready: set[str] | None = None     # workers whose cold start is counted (or predates us)
        self.wake = threading.Event()
        self.listen_failed = False

    # ------------------------------------------------------------ one tick

    def tick(self) -> dict[str, Decision]:
        """Read demand, decide for every autoscaled actor, carry the decisions out."""
        now = self.clock()
        a = self.config.autoscaler
        self.figures.ticks += 1
        actors = [doc for _, doc in self.stores.actors.items() if autoscale.manages(self.config, doc)
                  and doc.get("status") in (ActorStatus.READY, ActorStatus.SUBMITTED)]
        self._count_cold_starts(actors)
        if not actors:
            self.histories.clear()
            return {}
        queues = sorted({doc.get("queue") or "default" for doc in actors})
        reading = self.source.read([doc["id"] for doc in actors], queues)
        self.figures.source = reading.source
        keep = max(a.stable_window, a.scale_down_delay, a.zero_grace) + 2 * a.interval
        self.stopping = {w: t for w, t in self.stopping.items() if now - t < STOP_PENDING_FOR}
        total = sum(1 for w in self.stores.workers.items() if w[1].get("status") in commands.LIVE_WORKER)
        out = {}
        for actor in actors:
            figures = reading.of(actor["id"])
            doc = self.stores.autoscaling.find(actor["id"]) or {}
            known = self.histories.get(actor["id"])
            if known is None:            # just took over: the previous holder's samples go on
                known = [Sample(*row) for row in doc.get("samples") or []]
            samples = [s for s in known if now - s.time <= keep]
            samples.append(Sample(now, figures.queued, figures.running, figures.ready))
            self.histories[actor["id"]] = samples
            live = [w for w in commands.live_workers(self.stores, actor["id"], actor["revision"])
                    if w["id"] not in self.stopping]
            idle = [w for w in live if w.get("status") == WorkerStatus.READY and not w.get("execution_id")]
            hold = self._hold(reading, actor, total)
            decision = autoscale.decide(History(tuple(samples), len(live), len(idle)), now,
                                        autoscale.settings_for(self.config, actor, hold))
            total += self._apply(actor, decision, idle)
            self._record(actor, doc, decision, reading, samples, now)
            self.figures.count(decision)
            out[actor["id"]] = decision
        for gone in set(self.histories) - {doc["id"] for doc in actors}:
            del self.histories[gone]
        return out

    def _hold(self, reading: Reading, actor: dict, total_workers: int) -> str:
        a = self.config.autoscaler
        waiting = reading.command_queues.get(actor.get("queue") or "default", 0)
        if a.command_queue_limit > 0 and waiting >= a.command_queue_limit:
            return f"command queue full ({waiting} start commands waiting)"
        if a.host_capacity > 0 and total_workers >= a.host_capacity:
            return f"compute hosts full ({total_workers} of {a.host_capacity} workers)"
        return ""

    def _apply(self, actor: dict, decision: Decision, idle: list[dict]) -> int:
        """Carry a decision out; returns the change in live workers."""
        if decision.direction == UP:
            more = decision.desired - decision.current
            cap = self.config.quotas.max_workers_per_user
            if cap and actor.get("owner_role") != Role.ADMIN:       # the owner's quota, as POST .../workers
                more = min(more, cap - quotas.user_workers(self.stores, actor.get("tenant", "default"),
                                                           actor["owner"]))
            # Against the stores as they are now (another autoscaler may have just taken over).
            more = min(more, (actor.get("max_workers") or 1)
                       - len(commands.live_workers(self.stores, actor["id"], actor["revision"])))
            if more <= 0:
                return 0
            return len(commands.request_workers(self.config, self.stores, self.broker, actor, more))
        if decision.direction == DOWN:
            doomed = sorted(idle, key=lambda w: times.epoch(w.get("last_execution_time") or w.get("create_time")))
            doomed = doomed[: decision.current - decision.desired]
            for worker in doomed:
                commands.stop_worker(self.config, self.broker, worker["id"], kill_running=False,
                                     reason=f"autoscaler: {decision.reason}")
                self.stopping[worker["id"]] = self.clock()
            return -len(doomed)
        return 0

    def _record(self, actor: dict, doc: dict, decision: Decision, reading: Reading, samples: list[Sample],
                now: float) -> None:
        entry = {"time": _iso(now),
                 "desired": decision.desired, "current": decision.current, "direction": decision.direction,
                 "reason": decision.reason, "source": reading.source, "autoscaler": self.holder,
                 "tick": self.figures.ticks,
                 **decision.figures}
        decisions = list(doc.get("decisions") or [])
        last = decisions[-1] if decisions else None
        # Every change is kept; an unchanged "none" replaces the previous one (so the list
        # shows what happened, and the latest tick, without filling up with repeats).
        if last is not None and decision.direction == last.get("direction") == autoscale.NONE and \
                decision.reason == last.get("reason") and decision.desired == last.get("desired"):
            decisions[-1] = entry
        else:
            decisions.append(entry)
        kept = decisions[-self.config.autoscaler.decisions_kept:]
        self.stores.autoscaling.put(actor["id"], {"actor_id": actor["id"], "tenant": actor.get("tenant", "default"),
                                                  "decisions": kept, "latest": entry,
                                                  "samples": [[s.time, s.queued, s.running, s.ready]
                                                              for s in samples]})

    def _count_cold_starts(self, actors: list[dict]) -> None:
        workers = [w for doc in actors for w in self.stores.workers.group_docs(doc["id"]) if w.get("ready_time")]
        if self.seen_ready is None:          # workers ready before this process: not ours to time
            self.seen_ready = {w["id"] for w in workers}
            return
        for worker in workers:
            if worker["id"] not in self.seen_ready:
                self.seen_ready.add(worker["id"])
                self.figures.cold_start(times.epoch(worker["ready_time"]) - times.epoch(worker.get("create_time")))
        if len(self.seen_ready) > 100000:
            self.seen_ready = {w["id"] for w in workers}

    # ------------------------------------------------------------ the loop

    def run(self, terminate: threading.Event) -> int:
        a = self.config.autoscaler
        if not a.enabled:
            log.info("[autoscaler] enabled = false: standing by without scaling")
        server = None
        active = False
        while not terminate.is_set():
            if server is None:
                server = self._serve()
            started = self.clock()
            try:
                if a.enabled and self.lease.hold():
                    if not active:
                        log.info("autoscaler %s is active (lease for %s s)", self.holder, a.lease_ttl)
                    active = True
                    self.tick()
                    self.lease.hold()          # a long tick must not let the lease lapse
                elif active:
                    log.warning("autoscaler %s lost the lease; standing by", self.holder)
                    active = False
                    self.histories.clear()
            except SourceUnavailable as exc:
                log.warning("autoscaler tick skipped: no source answers (%s)", exc)
            except (StoreUnavailable, channels.ChannelUnavailable) as exc:
                log.warning("autoscaler tick skipped: %s", exc)
            except Exception:  # noqa: BLE001 - keep scaling whatever one tick hit
                log.exception("autoscaler tick failed")
            self.figures.active = active
            pause = a.interval if active else min(a.interval, a.lease_ttl / 3)
            self.wake.wait(max(0.0, pause - (self.clock() - started)))
            self.wake.clear()
        if active:
            try:
                self.lease.release()
            except StoreUnavailable:
                pass
        if server is not None:
            server.shutdown()
        return 0

    def _serve(self) -> ThreadingHTTPServer | None:
        """/metrics and /alerts on [autoscaler] listen; None (tried again next tick) while the port is taken."""
        host, _, port = self.config.autoscaler.listen.rpartition(":")
        try:
            server = ThreadingHTTPServer((host.strip("[]"), int(port)), _handler(self))
        except OSError as exc:
            level = logging.DEBUG if self.listen_failed else logging.WARNING
            log.log(level, "cannot listen on %s (trying again each tick): %s", self.config.autoscaler.listen, exc)
            self.listen_failed = True
            return None
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="autoscaler-http", daemon=True).start()
        log.info("autoscaler serving /metrics and /alerts on %s", self.config.autoscaler.listen)
        return server


def _iso(epoch: float) -> str:
    return times.iso(datetime.fromtimestamp(epoch, timezone.utc), "milliseconds")


def check_alerts(body: bytes) -> list[dict]:
    """The alerts of an AlertManager webhook body; ValueError saying what is wrong."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("the body is not JSON text") from None
    if not isinstance(data, dict) or not isinstance(data.get("alerts"), list) or \
            not all(isinstance(a, dict) for a in data["alerts"]):
        raise ValueError("the body must be AlertManager's webhook object, with a list of 'alerts'")
    return data["alerts"]


def _handler(scaler: Autoscaler) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "abaco-autoscaler"

        def log_message(self, *args) -> None:   # the process logs what matters itself
            pass

        def _reply(self, status: int, message: str, result=None, text: str | None = None) -> None:
            if text is None:
                body = json.dumps({"status": "success" if status < 400 else "error", "message": message,
                                   "result": result, "version": __version__}).encode()
                kind = "application/json"
            else:
                body, kind = text.encode(), "text/plain; version=0.0.4"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _allowed(self) -> bool:
            token = credentials.scrape_token(scaler.config.keys_dir)
            given = self.headers.get("Authorization", "")
            if token and given.startswith("Bearer ") and \
                    hmac.compare_digest(given[len("Bearer "):].strip().encode(), token.encode()):
                return True
            self._reply(401, "a bearer token is required: the scrape token in <data_dir>/keys/metrics.token")
            return False

        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self._reply(404, f"no such path {self.path}; this serves GET /metrics and POST /alerts")
            elif self._allowed():
                self._reply(200, "", text=scaler.figures.text())

        def do_POST(self) -> None:
            if self.path.split("?")[0] != "/alerts":
                self._reply(404, f"no such path {self.path}; this serves GET /metrics and POST /alerts")
                return
            if not self._allowed():
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 < length <= MAX_BODY:
                self._reply(400, f"the body must be AlertManager's JSON, 1 to {MAX_BODY} bytes")
                return
            try:
                alerts = check_alerts(self.rfile.read(length))
            except ValueError as exc:
                self._reply(400, str(exc))
                return
            log.info("alert webhook: %d alert(s) (%s); ticking now", len(alerts),
                     ", ".join(sorted({str(a.get("labels", {}).get("alertname", "?")) for a in alerts})))
            scaler.wake.set()
            self._reply(200, "a tick was triggered", {"alerts": len(alerts)})
    return Handler


def main(argv: list[str] | None = None) -> int:
    args = command_line("abaco-autoscaler", "Scale the workers of actors registered with autoscale=true "
                        "from Prometheus (or the queues), one active autoscaler at a time.").parse_args(argv)
    config = start("autoscaler", args)
    stores, broker = open_stores(config), channels.Broker(config)
    scaler = Autoscaler(config, stores, broker, for_config(config, stores, broker))
    return scaler.run(stop_event())


if __name__ == "__main__":
    sys.exit(main())
