"""Server-rendered SVG charts for the reviewer pages: pure functions from numbers to markup.

No JavaScript and no CDN: each builder returns a self-contained ``<svg>`` string (safe to
mark safe: every text it contains is escaped here). Empty input gives a chart that says so
rather than an error, because a new tenant has no data yet.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 640
HEIGHT = 280
MARGIN_LEFT = 52
MARGIN_RIGHT = 16
MARGIN_TOP = 28
MARGIN_BOTTOM = 40

INK = "#333"
GRID = "#ddd"
LINE = "#417690"
BASELINE = "#6c757d"
WINDOW = "#e8a317"
DANGER = "#ba2121"
PROPOSED = "#2e7d32"


@dataclass(frozen=True)
class ReliabilityBin:
    lower: float
    upper: float
    count: int
    mean_confidence: float
    accuracy: float


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


class _Plot:
    """Maps data coordinates to the drawing area and collects SVG elements."""

    def __init__(
        self,
        *,
        title: str,
        x_range: tuple[float, float],
        y_range: tuple[float, float],
        width: int = WIDTH,
        height: int = HEIGHT,
    ):
        self.title = title
        self.width, self.height = width, height
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range
        if self.x1 <= self.x0:
            self.x1 = self.x0 + 1
        if self.y1 <= self.y0:
            self.y1 = self.y0 + 1
        self.left, self.right = MARGIN_LEFT, width - MARGIN_RIGHT
        self.top, self.bottom = MARGIN_TOP, height - MARGIN_BOTTOM
        self.parts: list[str] = []

    def x(self, value: float) -> float:
        return self.left + (value - self.x0) / (self.x1 - self.x0) * (self.right - self.left)

    def y(self, value: float) -> float:
        return self.bottom - (value - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)

    def add(self, element: str) -> None:
        self.parts.append(element)

    def text(self, x: float, y: float, label: str, *, anchor="start", color=INK, size=11, cls=""):
        css = f' class="{cls}"' if cls else ""
        self.add(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{color}" '
            f'text-anchor="{anchor}"{css}>{escape(label)}</text>'
        )

    def axes(self, *, y_ticks: Sequence[float], y_format=_num, x_ticks=(), x_format=_num):
        for tick in y_ticks:
            py = self.y(tick)
            self.add(
                f'<line x1="{self.left}" y1="{py:.1f}" x2="{self.right}" y2="{py:.1f}" '
                f'stroke="{GRID}" stroke-width="1"/>'
            )
            self.text(self.left - 6, py + 4, y_format(tick), anchor="end", size=10)
        for tick in x_ticks:
            self.text(self.x(tick), self.bottom + 16, x_format(tick), anchor="middle", size=10)
        self.add(
            f'<line x1="{self.left}" y1="{self.bottom}" x2="{self.right}" y2="{self.bottom}" '
            f'stroke="{INK}" stroke-width="1"/>'
        )
        self.add(
            f'<line x1="{self.left}" y1="{self.top}" x2="{self.left}" y2="{self.bottom}" '
            f'stroke="{INK}" stroke-width="1"/>'
        )

    def hline(self, value: float, label: str, color: str, *, dash="6 4", label_left=False):
        py = self.y(value)
        self.add(
            f'<line x1="{self.left}" y1="{py:.1f}" x2="{self.right}" y2="{py:.1f}" '
            f'stroke="{color}" stroke-width="1.5" stroke-dasharray="{dash}" class="hline"/>'
        )
        if label_left:
            self.text(self.left + 4, py + 12, label, color=color, size=10)
        else:
            self.text(self.right - 4, py - 4, label, anchor="end", color=color, size=10)

    def vline(self, value: float, label: str, color: str, *, dash="6 4", label_y=None):
        px = self.x(value)
        self.add(
            f'<line x1="{px:.1f}" y1="{self.top}" x2="{px:.1f}" y2="{self.bottom}" '
            f'stroke="{color}" stroke-width="1.5" stroke-dasharray="{dash}" class="vline"/>'
        )
        self.text(px + 3, label_y or self.top + 10, label, color=color, size=10)

    def band(self, start: float, end: float, label: str, color: str):
        x0, x1 = self.x(start), self.x(end)
        self.add(
            f'<rect x="{x0:.1f}" y="{self.top}" width="{max(x1 - x0, 1):.1f}" '
            f'height="{self.bottom - self.top}" fill="{color}" fill-opacity="0.12" class="band"/>'
        )
        self.text(x0 + 3, self.bottom - 6, label, color=color, size=10)

    def polyline(self, points: Sequence[tuple[float, float]], color: str, *, cls="series"):
        if not points:
            return
        coords = " ".join(f"{self.x(px):.1f},{self.y(py):.1f}" for px, py in points)
        self.add(
            f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2" '
            f'class="{cls}"/>'
        )
        for px, py in points if len(points) <= 60 else ():
            self.add(
                f'<circle cx="{self.x(px):.1f}" cy="{self.y(py):.1f}" r="2.5" fill="{color}"/>'
            )

    def render(self, *, legend: Sequence[tuple[str, str]] = (), note: str = "") -> str:
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {self.width} {self.height}" '
            f'width="{self.width}" height="{self.height}" role="img" '
            f'aria-label="{escape(self.title)}" class="govloop-chart" '
            f'font-family="sans-serif"><title>{escape(self.title)}</title>'
        )
        self.text(self.left, 16, self.title, size=13)
        x = self.right
        for label, color in reversed(legend):
            x -= 7 * len(label) + 22
            self.add(f'<rect x="{x:.1f}" y="7" width="10" height="10" fill="{color}"/>')
            self.text(x + 14, 16, label, size=10)
        if note:
            self.text(self.left, self.height - 6, note, size=10, color=BASELINE)
        return head + "".join(self.parts) + "</svg>"


def empty_chart(title: str, message: str = "no data yet") -> str:
    plot = _Plot(title=title, x_range=(0, 1), y_range=(0, 1))
    plot.axes(y_ticks=())
    plot.text(WIDTH / 2, HEIGHT / 2, message, anchor="middle", color=BASELINE, size=13)
    return plot.render()


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    ticks, value = [], first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _time_axis(
    points: Sequence[tuple[dt.datetime, float]],
) -> tuple[list[tuple[float, float]], list[float], object]:
    start = points[0][0]
    xs = [((moment - start).total_seconds(), value) for moment, value in points]
    span = xs[-1][0] if xs[-1][0] > 0 else 1.0
    ticks = [span * i / 4 for i in range(5)]

    def fmt(seconds: float) -> str:
        moment = start + dt.timedelta(seconds=seconds)
        return moment.strftime("%d %b %H:%M") if span < 3 * 86400 else moment.strftime("%d %b")

    return xs, ticks, fmt


def kpi_chart(
    *,
    rates: Sequence[float | None],
    baseline: tuple[int, int],
    window: tuple[int, int],
    baseline_rate: float | None,
    current_rate: float | None,
    threshold_rate: float | None,
    title: str = "KPI",
) -> str:
    """A KPI's rolling rate by event index, with the baseline and recent windows shaded and
    the baseline rate, the current rate and the firing threshold as lines.

    ``baseline`` and ``window`` are half-open index ranges into ``rates``; a None rate (a
    rolling window still filling up) is not drawn."""
    points = [(i, rate) for i, rate in enumerate(rates) if rate is not None]
    if not points:
        return empty_chart(title, "no KPI events yet")
    top = max([*(r for _, r in points), baseline_rate or 0, current_rate or 0, threshold_rate or 0])
    high = 1.0 if top <= 1.0 else top * 1.1
    plot = _Plot(title=title, x_range=(0, max(len(rates) - 1, 1)), y_range=(0, high))
    plot.axes(
        y_ticks=_ticks(0, high), x_ticks=_ticks(0, len(rates) - 1), x_format=lambda v: str(int(v))
    )
    plot.band(baseline[0], max(baseline[1] - 1, baseline[0]), "baseline window", BASELINE)
    plot.band(window[0], max(window[1] - 1, window[0]), "recent window", WINDOW)
    plot.polyline(points, LINE)
    if baseline_rate is not None:
        plot.hline(baseline_rate, f"baseline {_num(baseline_rate)}", BASELINE)
    if threshold_rate is not None:
        plot.hline(threshold_rate, f"fires below {_num(threshold_rate)}", DANGER, label_left=True)
    if current_rate is not None:
        plot.hline(current_rate, f"current {_num(current_rate)}", WINDOW, dash="2 3")
    return plot.render(
        legend=[("rate", LINE), ("threshold", DANGER)], note="x: event number (oldest first)"
    )


def reliability_bins(
    confidences: Sequence[float], outcomes: Sequence[bool | int], *, bins: int = 10
) -> tuple[list[ReliabilityBin], float]:
    """Equal-width confidence bins and the expected calibration error
    (sum over bins of |accuracy - mean confidence| weighted by the bin's share)."""
    if len(confidences) != len(outcomes):
        raise ValueError("confidences and outcomes differ in length")
    sums = [[0, 0.0, 0.0] for _ in range(bins)]
    for confidence, outcome in zip(confidences, outcomes, strict=True):
        index = min(int(float(confidence) * bins), bins - 1)
        cell = sums[max(index, 0)]
        cell[0] += 1
        cell[1] += float(confidence)
        cell[2] += 1.0 if outcome else 0.0
    total = len(confidences)
    result, ece = [], 0.0
    for i, (count, conf_sum, hit_sum) in enumerate(sums):
        if not count:
            continue
        mean_conf, accuracy = conf_sum / count, hit_sum / count
        result.append(ReliabilityBin(i / bins, (i + 1) / bins, count, mean_conf, accuracy))
        ece += count / total * abs(accuracy - mean_conf)
    return result, ece


def reliability_diagram(
    *, bins: Sequence[ReliabilityBin], ece: float | None, title: str = "Reliability"
) -> str:
    """Calibration curve (accuracy against mean confidence per bin) over the diagonal of
    perfect calibration, with each bin's count as a bar along the bottom and the ECE."""
    if not bins:
        return empty_chart(title, "no calibration data yet")
    plot = _Plot(title=title, x_range=(0, 1), y_range=(0, 1))
    plot.axes(y_ticks=_ticks(0, 1), x_ticks=_ticks(0, 1))
    most = max(b.count for b in bins)
    for b in bins:
        x0, x1 = plot.x(b.lower) + 1, plot.x(b.upper) - 1
        bar = (b.count / most) * (plot.bottom - plot.top) * 0.25
        plot.add(
            f'<rect x="{x0:.1f}" y="{plot.bottom - bar:.1f}" width="{max(x1 - x0, 1):.1f}" '
            f'height="{bar:.1f}" fill="{BASELINE}" fill-opacity="0.35" class="bin-count">'
            f"<title>{b.count} in [{_num(b.lower)}, {_num(b.upper)})</title></rect>"
        )
        plot.text((x0 + x1) / 2, plot.bottom - bar - 3, str(b.count), anchor="middle", size=9)
    plot.add(
        f'<line x1="{plot.x(0):.1f}" y1="{plot.y(0):.1f}" x2="{plot.x(1):.1f}" y2="{plot.y(1):.1f}" '
        f'stroke="{BASELINE}" stroke-dasharray="4 4" class="diagonal"/>'
    )
    plot.polyline([(b.mean_confidence, b.accuracy) for b in bins], LINE, cls="calibration-curve")
    note = "x: mean predicted confidence, y: observed accuracy; bars: records per bin"
    label = f"ECE {ece:.3f}" if ece is not None else "ECE n/a"
    plot.text(plot.left + 8, plot.top + 14, label, size=12, color=DANGER, cls="ece")
    return plot.render(legend=[("observed", LINE), ("perfect", BASELINE)], note=note)


def regret_chart(
    *,
    points: Sequence[tuple[dt.datetime, float]],
    demote_at: float,
    title: str = "Regret score",
) -> str:
    """A policy's regret score over time with the automatic demotion line."""
    if not points:
        return empty_chart(title, "no regret recorded")
    series, ticks, fmt = _time_axis(points)
    high = max(max(v for _, v in series), demote_at) * 1.15
    plot = _Plot(title=title, x_range=(0, series[-1][0] or 1), y_range=(0, high))
    plot.axes(y_ticks=_ticks(0, high), x_ticks=ticks, x_format=fmt)
    plot.hline(demote_at, f"auto-demote at {_num(demote_at)}", DANGER)
    plot.polyline(series, LINE)
    return plot.render(legend=[("regret", LINE), ("demotion", DANGER)])


def pass_rate_chart(
    *,
    points: Sequence[tuple[dt.datetime, float]],
    title: str = "Backtest pass rate",
    target: float | None = None,
) -> str:
    """The pass rate (0..1) of backtest runs over time."""
    if not points:
        return empty_chart(title, "no backtest runs yet")
    series, ticks, fmt = _time_axis(points)
    plot = _Plot(title=title, x_range=(0, series[-1][0] or 1), y_range=(0, 1))
    plot.axes(y_ticks=_ticks(0, 1), y_format=lambda v: f"{v:.0%}", x_ticks=ticks, x_format=fmt)
    if target is not None:
        plot.hline(target, f"target {target:.0%}", PROPOSED)
    plot.polyline(series, LINE)
    return plot.render(legend=[("pass rate", LINE)])


def score_histogram(
    *,
    counts: Sequence[int],
    edges: Sequence[float],
    thresholds: Sequence[float],
    proposed: Sequence[float] | None = None,
    bands: Sequence[str] = (),
    title: str = "Score distribution",
) -> str:
    """Counts of scores per bucket (``edges`` has one more item than ``counts``) with the
    active band thresholds and, when given, a proposal's moved thresholds."""
    if not counts or sum(counts) == 0:
        return empty_chart(title, "no scored decisions yet")
    if len(edges) != len(counts) + 1:
        raise ValueError("edges must have one more item than counts")
    high = max(counts) * 1.15
    plot = _Plot(title=title, x_range=(edges[0], edges[-1]), y_range=(0, high))
    plot.axes(
        y_ticks=_ticks(0, high), y_format=lambda v: str(int(v)), x_ticks=_ticks(edges[0], edges[-1])
    )
    for count, lower, upper in zip(counts, edges, edges[1:], strict=False):
        x0, x1 = plot.x(lower) + 0.5, plot.x(upper) - 0.5
        py = plot.y(count)
        plot.add(
            f'<rect x="{x0:.1f}" y="{py:.1f}" width="{max(x1 - x0, 1):.1f}" '
            f'height="{plot.bottom - py:.1f}" fill="{LINE}" fill-opacity="0.7" class="bucket">'
            f"<title>{count} in [{_num(lower)}, {_num(upper)})</title></rect>"
        )
    for i, value in enumerate(thresholds):
        name = f"{bands[i]}|{bands[i + 1]}" if len(bands) > i + 1 else "threshold"
        plot.vline(value, f"{name} {_num(value)}", DANGER, label_y=plot.top + 10)
    legend = [("decisions", LINE), ("active thresholds", DANGER)]
    for old, new in zip(thresholds, proposed or (), strict=False):
        if abs(old - new) > 1e-12:
            plot.vline(new, f"proposed {_num(new)}", PROPOSED, dash="2 2", label_y=plot.top + 24)
    if proposed:
        legend.append(("proposed", PROPOSED))
    return plot.render(legend=legend)


def histogram(values: Sequence[float], *, buckets: int = 20, low: float = 0.0, high: float = 1.0):
    """Counts per equal-width bucket over [low, high] and the bucket edges."""
    width = (high - low) / buckets
    counts = [0] * buckets
    for value in values:
        index = int((float(value) - low) / width)
        counts[min(max(index, 0), buckets - 1)] += 1
    return counts, [low + i * width for i in range(buckets + 1)]


def exposure_chart(
    *, points: Sequence[tuple[dt.datetime, float]], title: str = "Candidate exposure"
) -> str:
    """A rollout's exposure (percent of cases on the candidate) over time, as steps: each
    point holds until the next one."""
    if not points:
        return empty_chart(title, "the rollout has not started")
    steps: list[tuple[dt.datetime, float]] = []
    for moment, value in points:
        if steps:
            steps.append((moment, steps[-1][1]))
        steps.append((moment, value))
    series, ticks, fmt = _time_axis(steps)
    plot = _Plot(title=title, x_range=(0, series[-1][0] or 1), y_range=(0, 100))
    plot.axes(y_ticks=_ticks(0, 100), y_format=lambda v: f"{v:.0f}%", x_ticks=ticks, x_format=fmt)
    plot.polyline(series, LINE)
    return plot.render(legend=[("exposure", LINE)])
