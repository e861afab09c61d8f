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
MARGIN_RIGHT = 24
# Row 1: the title; row 2: the legend; the plot starts below both, so neither overlaps.
TITLE_Y = 16
LEGEND_Y = 34
MARGIN_TOP = 46
MARGIN_BOTTOM = 40
# Labels of horizontal lines sit in a gutter right of the plot, clear of the data.
GUTTER = 118
LABEL_GAP = 12

INK = "#333"
GRID = "#ddd"
LINE = "#417690"
BASELINE = "#6c757d"
WINDOW = "#e8a317"
DANGER = "#ba2121"
PROPOSED = "#2e7d32"
GOOD = "#2e7d32"
FAIR = "#b8860b"

# Expected calibration error (ECE): the mean gap between stated confidence and observed
# accuracy, over 10 equal-width confidence bins weighted by each bin's share of records.
# 0 is perfect; these are the usual reading levels.
ECE_DEFINITION = (
    "ECE (expected calibration error): the average gap between stated confidence and observed "
    "accuracy over 10 equal-width confidence bins, each weighted by its share of the records; "
    "0 is perfect, up to 0.05 is good, above 0.10 is poor."
)
ECE_GOOD = 0.05
ECE_POOR = 0.10


def ece_color(ece: float) -> str:
    """Green for a well calibrated ECE, amber in between, red for a poor one."""
    if ece <= ECE_GOOD:
        return GOOD
    return FAIR if ece <= ECE_POOR else DANGER


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
        gutter: int = 0,
    ):
        self.title = title
        self.width, self.height = width, height
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range
        if self.x1 <= self.x0:
            self.x1 = self.x0 + 1
        if self.y1 <= self.y0:
            self.y1 = self.y0 + 1
        self.left, self.right = MARGIN_LEFT, width - MARGIN_RIGHT - gutter
        self.top, self.bottom = MARGIN_TOP, height - MARGIN_BOTTOM
        self.parts: list[str] = []
        self.gutter_labels: list[tuple[float, str, str, str]] = []

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
            self.text(self.left - 6, py + 4, y_format(tick), anchor="end", size=10, cls="y-tick")
        for tick in x_ticks:
            label = x_format(tick)
            px, half = self.x(tick), _text_width(label, 10) / 2
            # Keep the end labels inside the picture instead of cutting them at its edge.
            anchor = "end" if px + half > self.width - 2 else "start" if px - half < 2 else "middle"
            self.text(px, self.bottom + 16, label, anchor=anchor, size=10, cls="x-tick")
        self.add(
            f'<line x1="{self.left}" y1="{self.bottom}" x2="{self.right}" y2="{self.bottom}" '
            f'stroke="{INK}" stroke-width="1"/>'
        )
        self.add(
            f'<line x1="{self.left}" y1="{self.top}" x2="{self.left}" y2="{self.bottom}" '
            f'stroke="{INK}" stroke-width="1"/>'
        )

    def hline(self, value: float, label: str, color: str, *, dash="6 4", cls=""):
        """A horizontal level; its label goes to the gutter right of the plot (see render)."""
        py = self.y(value)
        self.add(
            f'<line x1="{self.left}" y1="{py:.1f}" x2="{self.right}" y2="{py:.1f}" '
            f'stroke="{color}" stroke-width="1.5" stroke-dasharray="{dash}" class="hline" '
            f'data-level="{cls}"/>'
        )
        self.gutter_labels.append((py, label, color, cls))

    def _place_gutter_labels(self) -> None:
        """Labels at their line's height, pushed apart so that none overlaps another."""
        placed: list[list] = [
            [py + 4, label, color, cls] for py, label, color, cls in self.gutter_labels
        ]
        placed.sort(key=lambda item: item[0])
        for i in range(1, len(placed)):
            placed[i][0] = max(placed[i][0], placed[i - 1][0] + LABEL_GAP)
        overflow = placed[-1][0] - (self.bottom + 4) if placed else 0
        if overflow > 0:
            for item in placed:
                item[0] -= overflow
            for i in range(len(placed) - 2, -1, -1):
                placed[i][0] = min(placed[i][0], placed[i + 1][0] - LABEL_GAP)
        for y, label, color, cls in placed:
            self.text(
                self.right + 6, y, label, color=color, size=10, cls=f"gutter-label {cls}".strip()
            )

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
        self._place_gutter_labels()
        self.text(self.left, TITLE_Y, self.title, size=13, cls="chart-title")
        if legend:
            # The legend has a row of its own under the title: a long title never meets it.
            self.add('<g class="legend">')
            x = self.left
            for label, color in legend:
                self.add(
                    f'<rect x="{x:.1f}" y="{LEGEND_Y - 9}" width="10" height="10" fill="{color}"/>'
                )
                self.text(x + 14, LEGEND_Y, label, size=10)
                x += _text_width(label, 10) + 30
            self.add("</g>")
        if note:
            self.text(self.left, self.height - 6, note, size=10, color=BASELINE, cls="note")
        return head + "".join(self.parts) + "</svg>"


def _text_width(label: str, size: int) -> float:
    """A generous estimate of a label's width in the sans-serif font (for layout only)."""
    return len(label) * size * 0.62


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
    window_events: int | None = None,
    title: str = "KPI",
) -> str:
    """What the tripwire compares, by event index: each point is the mean of the evaluation
    window (the ``window_events`` events up to it), the quantity that fires when it falls
    below the red firing level. The baseline and recent windows are shaded; the baseline,
    firing and current levels are labelled in the gutter, clear of the data.

    ``baseline`` and ``window`` are half-open index ranges into ``rates``; a None rate (a
    window still filling up) is not drawn."""
    points = [(i, rate) for i, rate in enumerate(rates) if rate is not None]
    if not points:
        return empty_chart(title, "no KPI events yet")
    top = max([*(r for _, r in points), baseline_rate or 0, current_rate or 0, threshold_rate or 0])
    high = 1.0 if top <= 1.0 else top * 1.1
    plot = _Plot(title=title, x_range=(0, max(len(rates) - 1, 1)), y_range=(0, high), gutter=GUTTER)
    plot.axes(
        y_ticks=_ticks(0, high), x_ticks=_ticks(0, len(rates) - 1), x_format=lambda v: str(int(v))
    )
    plot.band(baseline[0], max(baseline[1] - 1, baseline[0]), "baseline window", BASELINE)
    plot.band(window[0], max(window[1] - 1, window[0]), "recent window", WINDOW)
    plot.polyline(points, LINE)
    if baseline_rate is not None:
        plot.hline(baseline_rate, f"baseline {_num(baseline_rate)}", BASELINE, cls="baseline")
    if threshold_rate is not None:
        plot.hline(threshold_rate, f"fires below {_num(threshold_rate)}", DANGER, cls="threshold")
    if current_rate is not None:
        tone = DANGER if threshold_rate is not None and current_rate < threshold_rate else LINE
        plot.hline(current_rate, f"current {_num(current_rate)}", tone, dash="2 3", cls="current")
    mean_label = f"mean of the last {window_events} events" if window_events else "window mean"
    return plot.render(
        legend=[(mean_label, LINE), ("firing level", DANGER)],
        note="x: event number (oldest first)",
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
    *,
    bins: Sequence[ReliabilityBin],
    ece: float | None,
    title: str = "Reliability",
    ece_label: str = "ECE",
) -> str:
    """Calibration curve (accuracy against mean confidence per bin) over the diagonal of
    perfect calibration, with each bin's count as a bar along the bottom and the ECE, green
    when good and red when poor (see ``ECE_DEFINITION``)."""
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
    label = f"{ece_label} {ece:.3f}" if ece is not None else f"{ece_label} n/a"
    color = ece_color(ece) if ece is not None else BASELINE
    plot.text(plot.left + 8, plot.top + 14, label, size=12, color=color, cls="ece")
    return plot.render(legend=[("observed", LINE), ("perfect calibration", BASELINE)], note=note)


def regret_chart(
    *,
    points: Sequence[tuple[dt.datetime, float]],
    demote_at: float,
    current: float | None = None,
    title: str = "Regret score",
) -> str:
    """A policy's regret score over time with the automatic demotion line and the score now
    (``current``, else the series' last value)."""
    if not points:
        return empty_chart(title, "no regret recorded")
    series, ticks, fmt = _time_axis(points)
    high = max(max(v for _, v in series), demote_at) * 1.15
    plot = _Plot(title=title, x_range=(0, series[-1][0] or 1), y_range=(0, high), gutter=GUTTER)
    plot.axes(y_ticks=_ticks(0, high), x_ticks=ticks, x_format=fmt)
    plot.hline(demote_at, f"auto-demote at {_num(demote_at)}", DANGER, cls="threshold")
    now = series[-1][1] if current is None else current
    plot.hline(now, f"now {now:.1f}", LINE, dash="2 3", cls="current")
    plot.polyline(series, LINE)
    return plot.render(legend=[("regret score", LINE), ("demotion level", DANGER)])


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
