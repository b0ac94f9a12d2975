"""CPU and memory of a running execution over time, kept in a bounded series.

The worker samples an execution's cgroup every ``[limits] sample_interval``; each sample
offers a point ``[seconds since start, cpu ns so far, memory bytes now]``. However long the
run, the series holds at most ``limit`` points: when it fills, every other point is dropped
and from then on only every other sample is kept, so the points stay evenly spaced over the
whole run and the execution record stays small (``samples`` in the record, drawn by the
dashboard's plots).
"""

from __future__ import annotations

DEFAULT_LIMIT = 240


class UsageSeries:
    """At most ``limit`` evenly spaced points ``[t, cpu_ns, memory_bytes]`` of one run."""

    def __init__(self, limit: int = DEFAULT_LIMIT):
        if limit < 2:
            raise ValueError("a usage series needs room for at least 2 points")
        self.limit = limit
        self.stride = 1                 # keep one sample out of every `stride`
        self.points: list[list] = []
        self._offered = 0

    def add(self, seconds: float, cpu_ns: int, memory_bytes: int) -> None:
        keep = self._offered % self.stride == 0
        self._offered += 1
        if not keep:
            return
        self.points.append([round(max(0.0, seconds), 3), int(cpu_ns), int(memory_bytes)])
        if len(self.points) >= self.limit:
            self.points = self.points[::2]
            self.stride *= 2

    def record(self) -> dict:
        """What the execution record keeps: the points and the spacing they were taken at."""
        return {"points": [list(p) for p in self.points], "every": self.stride}
