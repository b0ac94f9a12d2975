"""decide() over synthetic histories: burst, trickle, drain, panic, stateful, sync hint, full hosts."""

from __future__ import annotations

import random

from actors.autoscale import DOWN, HOLD, NONE, UP, History, Sample, Settings, bounds, decide

SETTINGS = Settings(min_workers=0, max_workers=4, stable_window=60, panic_window=6, panic_factor=2,
                    scale_down_delay=30, zero_grace=120)


def series(start: float, end: float, step: float, queued, running, ready) -> list[Sample]:
    """Samples every ``step`` seconds; the figures may be numbers or functions of time."""
    def value(v, t):
        return v(t) if callable(v) else v
    out, t = [], start
    while t <= end:
        out.append(Sample(t, value(queued, t), value(running, t), value(ready, t)))
        t += step
    return out


def test_a_burst_on_one_worker_scales_to_max_workers_at_once():
    quiet = series(0, 100, 5, 0, 0, 1)
    burst = [Sample(105, 40, 1, 1)]
    d = decide(History(tuple(quiet + burst), current=1, idle=0), 105, SETTINGS)
    assert (d.desired, d.direction) == (4, UP)
    assert d.reason.startswith("panic")


def test_a_burst_from_zero_workers_scales_up_at_once():
    d = decide(History((Sample(10, 40, 0, 0),), current=0), 10, SETTINGS)
    assert (d.desired, d.direction) == (4, UP)


def test_a_steady_trickle_of_one_message_a_second_does_not_flap():
    """Half-second messages at 1/s: demand alternates 0 and 1; the count stays at 1, tick after tick."""
    rng = random.Random(7)
    samples: list[Sample] = []
    current = 1
    seen = []
    for tick in range(120):
        t = float(tick)
        samples.append(Sample(t, 0, rng.choice((0, 1)), current))
        d = decide(History(tuple(samples), current=current, idle=current), t, SETTINGS)
        seen.append(d.desired)
        current = d.desired
    assert set(seen) == {1}


def test_a_drain_goes_down_by_at_most_half_per_tick_only_after_the_delay():
    busy = series(0, 60, 5, 10, 4, 4)
    idle = series(65, 200, 5, 0, 0, 4)
    samples = busy + idle
    # 20 s after the last demand: still within the scale-down delay.
    d = decide(History(tuple(s for s in samples if s.time <= 80), current=4, idle=4), 80, SETTINGS)
    assert d.direction == NONE
    # Later, once the stable average has fallen: half the workers at most.
    d = decide(History(tuple(s for s in samples if s.time <= 125), current=4, idle=4), 125, SETTINGS)
    assert (d.desired, d.direction) == (2, DOWN)


def test_only_idle_workers_are_stopped():
    samples = series(0, 300, 5, 0, 0, 4)
    d = decide(History(tuple(samples), current=4, idle=1), 300, SETTINGS)
    assert (d.desired, d.direction) == (3, DOWN)
    d = decide(History(tuple(samples), current=4, idle=0), 300, SETTINGS)
    assert (d.desired, d.direction, d.reason) == (4, NONE, "no idle worker to stop")


def test_the_last_worker_goes_only_after_the_zero_grace_period():
    samples = series(0, 10, 5, 1, 0, 1) + series(15, 200, 5, 0, 0, 1)
    d = decide(History(tuple(s for s in samples if s.time <= 100), current=1, idle=1), 100, SETTINGS)
    assert (d.desired, d.direction) == (1, NONE)
    assert d.reason.startswith("zero grace")
    d = decide(History(tuple(samples), current=1, idle=1), 200, SETTINGS)
    assert (d.desired, d.direction, d.reason) == (0, DOWN, "no demand for the zero grace period")


def test_a_history_shorter_than_the_grace_keeps_the_last_worker():
    """An autoscaler that just took over knows too little to stop the last worker."""
    samples = series(190, 200, 5, 0, 0, 1)
    d = decide(History(tuple(samples), current=1, idle=1), 200, SETTINGS)
    assert d.desired == 1


def test_no_scale_down_while_the_panic_lasts():
    # Panic at t=60 (one ready worker, 10 queued); then it is over, but within the stable window.
    samples = series(0, 55, 5, 0, 0, 1) + [Sample(60, 10, 1, 1)] + series(65, 100, 5, 0, 0, 4)
    d = decide(History(tuple(samples), current=4, idle=4), 100, SETTINGS)
    assert (d.desired, d.direction) == (4, NONE)
    assert "panic" in d.reason


def test_panic_needs_twice_the_ready_workers():
    samples = series(0, 100, 5, 1, 2, 2)        # demand 3 with 2 ready: 1.5x, no panic
    d = decide(History(tuple(samples), current=2, idle=0), 100, SETTINGS)
    assert (d.desired, d.direction, d.reason) == (3, UP, "stable average")


def test_a_stateful_actor_has_exactly_one_worker():
    stateful = Settings(max_workers=1, stateful=True)
    burst = decide(History((Sample(0, 50, 1, 1),), current=1), 0, stateful)
    assert (burst.desired, burst.direction) == (1, NONE)
    quiet = decide(History(tuple(series(0, 500, 5, 0, 0, 1)), current=1, idle=1), 500, stateful)
    assert (quiet.desired, quiet.direction) == (1, NONE)
    lost = decide(History((), current=0), 0, stateful)
    assert (lost.desired, lost.direction) == (1, UP)


def test_the_sync_hint_keeps_one_worker_warm():
    sync = Settings(max_workers=4, sync=True, scale_down_delay=30, zero_grace=120)
    samples = tuple(series(0, 500, 5, 0, 0, 1))
    d = decide(History(samples, current=1, idle=1), 500, sync)
    assert (d.desired, d.direction, d.reason) == (1, NONE, "sync hint keeps one warm")
    d = decide(History(samples, current=2, idle=2), 500, sync)
    assert (d.desired, d.direction) == (1, DOWN)
    assert bounds(sync) == (1, 4)


def test_min_workers_is_a_floor_and_max_workers_a_ceiling():
    floor = Settings(min_workers=2, max_workers=3)
    d = decide(History((), current=0), 0, floor)
    assert (d.desired, d.direction) == (2, UP)
    d = decide(History(tuple(series(0, 500, 5, 0, 0, 2)), current=2, idle=2), 500, floor)
    assert (d.desired, d.direction) == (2, NONE)
    d = decide(History((Sample(0, 100, 0, 2),), current=2), 0, floor)
    assert d.desired == 3


def test_full_hosts_or_command_queue_hold_scale_ups_but_not_scale_downs():
    full = Settings(max_workers=4, hold="compute hosts full (10 of 10 workers)")
    d = decide(History((Sample(0, 40, 1, 1),), current=1), 0, full)
    assert (d.desired, d.direction, d.reason) == (1, HOLD, "compute hosts full (10 of 10 workers)")
    samples = tuple(series(0, 300, 5, 0, 0, 4))
    d = decide(History(samples, current=4, idle=4), 300, Settings(max_workers=4, hold="command queue full"))
    assert d.direction == DOWN


def test_desired_always_within_bounds_and_never_below_current_minus_idle():
    rng = random.Random(11)
    for _ in range(500):
        settings = Settings(min_workers=rng.randint(0, 3), max_workers=rng.randint(3, 6),
                            stateful=rng.random() < 0.1, sync=rng.random() < 0.2,
                            stable_window=30, panic_window=5, scale_down_delay=10, zero_grace=20)
        current = rng.randint(0, 6)
        idle = rng.randint(0, current)
        samples = tuple(Sample(float(t), rng.randint(0, 20), rng.randint(0, 4), rng.randint(0, 6))
                        for t in range(0, 60, rng.randint(1, 5)))
        d = decide(History(samples, current=current, idle=idle), 60, settings)
        low, high = bounds(settings)
        if low <= current <= high:
            assert low <= d.desired <= high
            assert d.desired >= current - idle
        assert d.direction == (UP if d.desired > current else DOWN if d.desired < current else d.direction)
