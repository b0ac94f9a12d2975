"""Resource limits: the configured defaults, an actor's own values, and who may raise them.

An actor may carry its own limits (``mem_limit``, ``max_cpus``, ``pids_max``,
``cpu_seconds``, ``max_run_time``, ``cpu_weight``, ``io_weight``). Anyone may ask for
less than the configured default; only privileged users may ask for more, or for no
limit where the default sets one. The actors of users with the limited role get the
``[limits] limited_*`` quotas on top, whichever is tighter.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from actors.auth import Identity
from actors.config import Config
from actors.fields import LIMIT_FIELDS, only_privileged

NANO = 1_000_000_000


@dataclass(frozen=True)
class Limits:
    """What one cgroup may use; 0 means no limit."""

    memory_max: int = 0
    memory_high: int = 0
    memory_low: int = 0
    memory_min: int = 0
    cpu_quota: float = 0.0          # CPUs
    cpu_period_us: int = 100000
    cpu_weight: int = 0             # 1..10000, as cgroup v2
    pids_max: int = 0
    io_weight: int = 0              # 1..10000, as cgroup v2
    io_read_bps: int = 0
    io_write_bps: int = 0
    io_read_iops: int = 0
    io_write_iops: int = 0

    def applied(self) -> dict:
        """The limits that are set, for the execution record."""
        return {k: v for k, v in self.__dict__.items() if v and k != "cpu_period_us"} | (
            {"cpu_period_us": self.cpu_period_us} if self.cpu_quota else {})


_UNITS = {"b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4}


def parse_size(value: str | int | None) -> int:
    """Bytes from '512m', '2g', '1048576' (0 for empty)."""
    if value is None or value == "":
        return 0
    if isinstance(value, int):
        return value
    text = str(value).strip().lower()
    unit = _UNITS.get(text[-1:], None)
    number = text[:-1] if unit else text
    if not number.isdigit():
        raise ValueError(f"not a size: {value!r} (use e.g. 512m, 2g or a number of bytes)")
    return int(number) * (unit or 1)


@dataclass(frozen=True)
class Budget:
    """What the worker enforces itself while the container runs."""

    cpu_seconds: float = 0.0
    max_run_time: int = 0

    def overrun(self, cpu_ns: int, running_for: float) -> str:
        """Why the execution must be killed, having used ``cpu_ns`` in ``running_for`` seconds
        ('' while it is within its budget)."""
        if self.cpu_seconds and cpu_ns > self.cpu_seconds * 1e9:
            return f"killed: used {cpu_ns / 1e9:.2f} CPU-seconds, past its budget of {self.cpu_seconds:g}"
        if self.max_run_time and running_for > self.max_run_time:
            return f"killed: ran longer than its max_run_time of {self.max_run_time} s"
        return ""


def _actor_value(actor: dict, field: str):
    """An actor's value in the unit of the [limits] setting (max_cpus is nano-CPUs)."""
    value = actor.get(field)
    if value in (None, "", 0):
        return None
    if field == "mem_limit":
        return parse_size(value)
    if field == "max_cpus":
        return int(value) / NANO
    return value


def _default(config: Config, setting: str):
    value = getattr(config.limits, setting)
    return parse_size(value) if setting.startswith("memory") else value


def check_request(config: Config, who: Identity, fields: dict) -> None:
    """Refuse (403; Abaco's 400) a non-privileged user's limit above the configured default."""
    if who.is_privileged:
        return
    for field, setting in LIMIT_FIELDS.items():
        if field not in fields:
            continue
        wanted = _actor_value(fields, field)
        default = _default(config, setting)
        if default and (wanted is None or wanted > default):
            raise only_privileged(field, f"Only privileged users may set {field} above the default "
                                         f"({getattr(config.limits, setting)}).")


def for_execution(config: Config, actor: dict) -> tuple[Limits, Budget]:
    """The cgroup limits and the worker-enforced budget of one execution of the actor."""
    c = config.limits

    def pick(field: str, setting: str):
        own = _actor_value(actor, field)
        return own if own is not None else _default(config, setting)

    limits = Limits(
        memory_max=pick("mem_limit", "memory_max") or 0,
        memory_high=parse_size(c.memory_high), memory_low=parse_size(c.memory_low),
        memory_min=parse_size(c.memory_min),
        cpu_quota=float(pick("max_cpus", "cpu_quota") or 0), cpu_period_us=c.cpu_period_us,
        cpu_weight=int(pick("cpu_weight", "cpu_weight") or 0),
        pids_max=int(pick("pids_max", "pids_max") or 0),
        io_weight=int(pick("io_weight", "io_weight") or 0),
        io_read_bps=c.io_read_bps, io_write_bps=c.io_write_bps,
        io_read_iops=c.io_read_iops, io_write_iops=c.io_write_iops)
    budget = Budget(cpu_seconds=float(pick("cpu_seconds", "cpu_seconds") or 0),
                    max_run_time=int(pick("max_run_time", "max_run_time") or 0))
    if actor.get("owner_role") == "limited":
        limits = dataclasses.replace(
            limits, memory_max=_tighter(limits.memory_max, parse_size(c.limited_memory_max)),
            cpu_quota=_tighter(limits.cpu_quota, c.limited_cpu_quota),
            pids_max=_tighter(limits.pids_max, c.limited_pids_max))
        budget = dataclasses.replace(budget, max_run_time=_tighter(budget.max_run_time, c.limited_max_run_time))
    return limits, budget


def _tighter(current, quota):
    """The smaller of two limits, where 0 means none."""
    if not quota:
        return current
    return min(current, quota) if current else quota


def for_actor(config: Config) -> Limits:
    """The quota shared by all running executions of one actor."""
    c = config.limits
    return Limits(memory_max=parse_size(c.actor_memory_max), cpu_quota=c.actor_cpu_quota,
                  cpu_period_us=c.cpu_period_us, pids_max=c.actor_pids_max)
