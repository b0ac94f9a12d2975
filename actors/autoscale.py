"""The autoscaling rule: how many workers an actor should have now, and why.

:func:`decide` is a pure function of what was observed (a :class:`History` of
:class:`Sample` s), the time, and the actor's :class:`Settings`; the autoscaler process
(actors/services/autoscaler.py) feeds it and carries out its :class:`Decision`. The rule:

- demand = queued + running messages; desired = ceil(average demand over the stable window);
- panic: when the average over the short (panic) window reaches ``panic_factor`` times the
  ready workers, scale to ceil(that average) at once; while any sample of the last stable
  window was in panic, never scale down;
- clamp to [min_workers, max_workers]; a stateful actor has exactly one worker, an actor with
  the ``sync`` hint keeps one warm;
- scale down only after demand stayed low for ``scale_down_delay`` seconds, only idle
  workers, at most half of the workers in one tick; the last worker goes only after
  ``zero_grace`` seconds without any demand (and only when the history is that long);
- hold (no scale-up) while the command queue or the compute hosts are full.

Guarantee: the desired count is always within [min_workers, max_workers] of the actor, never
below current minus the idle workers, and a tick never both adds and removes workers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from actors.config import Config

UP, DOWN, NONE, HOLD = "up", "down", "none", "hold"


@dataclass(frozen=True)
class Sample:
    """One observation of an actor at ``time`` (seconds)."""
    time: float
    queued: int            # messages waiting in its mailbox
    running: int           # executions running (busy workers)
    ready: int             # workers started and taking messages (idle or busy)

    @property
    def demand(self) -> int:
        return self.queued + self.running


@dataclass(frozen=True)
class History:
    """Samples oldest first, and what the platform holds now (from the stores)."""
    samples: tuple[Sample, ...]
    current: int = 0       # live workers now: starting, ready or busy
    idle: int = 0          # of which idle (ready, running nothing)


@dataclass(frozen=True)
class Settings:
    min_workers: int = 0
    max_workers: int = 1
    stateful: bool = False
    sync: bool = False                  # the 'sync' hint: keep one worker warm
    stable_window: float = 60.0
    panic_window: float = 6.0
    panic_factor: float = 2.0
    scale_down_delay: float = 30.0
    zero_grace: float = 120.0
    hold: str = ""                      # why scale-ups must wait now ("" : they need not)


@dataclass(frozen=True)
class Decision:
    desired: int
    current: int
    direction: str                      # up, down, none or hold
    reason: str
    figures: dict = field(default_factory=dict)   # the averages behind it, for GET .../autoscaling


def _window(samples: tuple[Sample, ...], now: float, seconds: float) -> list[Sample]:
    return [s for s in samples if now - seconds < s.time <= now]


def _average(samples: list[Sample]) -> float:
    return sum(s.demand for s in samples) / len(samples) if samples else 0.0


def _panics(samples: tuple[Sample, ...], at: Sample, settings: Settings) -> bool:
    """Whether the short average at ``at`` reached panic_factor times its ready workers."""
    short = _average(_window(samples, at.time, settings.panic_window))
    return short > 0 and short >= settings.panic_factor * at.ready


def bounds(settings: Settings) -> tuple[int, int]:
    """The lowest and highest worker counts the actor may have."""
    if settings.stateful:
        return 1, 1
    high = max(1, settings.max_workers)
    low = min(high, max(settings.min_workers, 1 if settings.sync else 0))
    return low, high


def decide(history: History, now: float, settings: Settings) -> Decision:
    """The worker count the actor should have at ``now``, with the direction and the reason."""
    samples = tuple(s for s in history.samples if s.time <= now)
    current = history.current
    low, high = bounds(settings)
    stable = _window(samples, now, settings.stable_window)
    stable_avg = _average(stable)
    short_avg = _average(_window(samples, now, settings.panic_window))
    figures = {"stable_average": round(stable_avg, 3), "panic_average": round(short_avg, 3),
               "samples": len(stable)}
    panic_now = bool(samples) and _panics(samples, samples[-1], settings)
    in_panic = panic_now or any(_panics(samples, s, settings) for s in stable)

    def out(desired: int, reason: str) -> Decision:
        desired = min(high, max(low, desired))
        if desired > current and settings.hold:
            return Decision(current, current, HOLD, settings.hold, figures)
        direction = UP if desired > current else DOWN if desired < current else NONE
        return Decision(desired, current, direction, reason, figures)

    if current < low:
        return out(low, "below min_workers" if not settings.stateful else "stateful: exactly one worker")
    if current > high:
        return out(max(high, current - history.idle), "above max_workers")
    if panic_now:
        return out(max(current, math.ceil(short_avg)), "panic: short average reached "
                   f"{settings.panic_factor:g}x the ready workers")
    wanted = math.ceil(stable_avg)
    if wanted >= current:
        if wanted > current:
            return out(wanted, "stable average")
        return out(current, "steady")
    # Fewer workers would do: every brake in turn.
    if current <= low:
        return out(current, "sync hint keeps one warm" if settings.sync and low == 1 and settings.min_workers < 1
                   else "min_workers")
    if in_panic:
        return out(current, "panic: no scale-down until it ends")
    recent = _window(samples, now, settings.scale_down_delay)
    if not samples or samples[0].time > now - settings.scale_down_delay:
        return out(current, "scale-down delay: history too short")
    wanted = max(wanted, max((s.demand for s in recent), default=0))
    if wanted >= current:
        return out(current, "scale-down delay: demand was higher lately")
    if wanted == 0 and low == 0:
        quiet = _window(samples, now, settings.zero_grace)
        if samples[0].time > now - settings.zero_grace or any(s.demand for s in quiet):
            wanted = 1
            if current <= 1:
                return out(current, "zero grace: waiting before the last worker goes")
    step = max(1, current // 2)
    target = max(wanted, current - step, current - history.idle)
    if target >= current:
        return out(current, "no idle worker to stop")
    if target == 0:
        return out(0, "no demand for the zero grace period")
    if target <= low and wanted < low:
        return out(low, "sync hint keeps one warm" if settings.sync and low == 1 and settings.min_workers < 1
                   else "min_workers")
    return out(target, "stable average (at most half per tick, idle only)")


def manages(config: Config, actor: dict) -> bool:
    """Whether the autoscaler (not health, not the API) decides this actor's worker count."""
    return config.autoscaler.enabled and bool(actor.get("autoscale"))


def settings_for(config: Config, actor: dict, hold: str = "") -> Settings:
    """The rule's settings for one actor: [autoscaler] windows plus the actor's own fields."""
    a = config.autoscaler
    return Settings(min_workers=int(actor.get("min_workers") or 0), max_workers=int(actor.get("max_workers") or 1),
                    stateful=not actor.get("stateless", True), sync="sync" in (actor.get("hints") or []),
                    stable_window=a.stable_window, panic_window=a.panic_window, panic_factor=a.panic_factor,
                    scale_down_delay=a.scale_down_delay, zero_grace=a.zero_grace, hold=hold)
