"""Charts drawn on the server as SVG: no JavaScript library, nothing fetched, works offline.

``line_chart`` draws a series over time (an execution's CPU and memory from its samples);
``bar_chart`` draws one bar per label (CPU-hours per day). Both return SVG text in which
every label is XML-escaped, safe to insert into a page as it is.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

W, H = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 76, 16, 28, 36


def _nice(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def _frame(title: str, y_label: str, y_max: float, x_labels: list[tuple[float, str]]) -> list[str]:
    plot_h = H - TOP - BOTTOM
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
           f'role="img" aria-label="{escape(title)}" class="chart">',
           f'<text x="{LEFT}" y="16" class="chart-title">{escape(title)}</text>']
    for i in range(5):
        y = TOP + plot_h - plot_h * i / 4
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
                   f'{escape(_nice(y_max * i / 4))}</text>')
    for x, label in x_labels:
        out.append(f'<text x="{x:.1f}" y="{H - BOTTOM + 16}" text-anchor="middle" class="tick">{escape(label)}</text>')
    out.append(f'<text x="14" y="{TOP + plot_h / 2:.1f}" transform="rotate(-90 14 {TOP + plot_h / 2:.1f})" '
               f'text-anchor="middle" class="axis">{escape(y_label)}</text>')
    return out


def line_chart(points: list[tuple[float, float]], title: str, y_label: str, x_label: str = "seconds") -> str:
    """A line over ``points`` (x, y), x from 0 (or its first value, if below) to its last value."""
    if not points:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} 40" width="{W}" height="40" class="chart">'
                f'<text x="8" y="24" class="tick">{escape(title)}: no samples</text></svg>')
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(0.0, min(xs)), max(xs)          # from the start of the run
    span = (x1 - x0) or 1.0
    y_max = max(ys) * 1.1 or 1.0
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + plot_w * (x - x0) / span

    def py(y: float) -> float:
        return TOP + plot_h - plot_h * y / y_max

    ticks = [(px(x0 + span * i / 4), _nice(x0 + span * i / 4)) for i in range(5)]
    out = _frame(title, y_label, y_max, ticks)
    path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
    out.append(f'<polyline points="{path}" class="line"/>')
    if len(points) == 1:
        out.append(f'<circle cx="{px(xs[0]):.1f}" cy="{py(ys[0]):.1f}" r="3" class="dot"/>')
    out.append(f'<text x="{W - RIGHT}" y="{H - 4}" text-anchor="end" class="axis">{escape(x_label)}</text>')
    out.append("</svg>")
    return "".join(out)


def bar_chart(bars: list[tuple[str, float]], title: str, y_label: str) -> str:
    """One bar per ``(label, value)``, in the order given."""
    if not bars:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} 40" width="{W}" height="40" class="chart">'
                f'<text x="8" y="24" class="tick">{escape(title)}: nothing in this range</text></svg>')
    y_max = max(v for _, v in bars) * 1.1 or 1.0
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    slot = plot_w / len(bars)
    every = max(1, len(bars) // 8)             # at most about 8 labels under the bars
    labels = [(LEFT + slot * (i + 0.5), label) for i, (label, _) in enumerate(bars) if i % every == 0]
    out = _frame(title, y_label, y_max, labels)
    for i, (label, value) in enumerate(bars):
        h = plot_h * value / y_max
        width = max(1.0, min(48.0, slot * 0.7))
        out.append(f'<rect x="{LEFT + slot * (i + 0.5) - width / 2:.1f}" y="{TOP + plot_h - h:.1f}" '
                   f'width="{width:.1f}" height="{h:.1f}" class="bar">'
                   f'<title>{escape(label)}: {escape(_nice(value))}</title></rect>')
    out.append("</svg>")
    return "".join(out)


def usage_points(samples: dict | None) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """From an execution's ``samples`` ({"points": [[t, cpu_ns, memory_bytes], ...]}):
    CPU in percent of one CPU between two samples, and memory in MiB at each sample."""
    points = (samples or {}).get("points") or []
    cpu, memory = [], []
    for i, (t, cpu_ns, mem) in enumerate(points):
        memory.append((float(t), mem / 2**20))
        if i:
            t0, c0 = points[i - 1][0], points[i - 1][1]
            if t > t0:
                cpu.append((float(t), max(0.0, (cpu_ns - c0) / 1e9 / (t - t0) * 100)))
    return cpu, memory
