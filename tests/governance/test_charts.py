import datetime as dt
import itertools
import xml.etree.ElementTree as ET

import pytest

from governance import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return [el.text or "" for el in root.iter(f"{SVG}text")]


def of_class(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [el for el in root.iter(f"{SVG}{tag}") if el.get("class") == cls]


def test_reliability_bins_compute_the_expected_calibration_error():
    confidences = [0.15, 0.15, 0.85, 0.85, 0.85, 0.85]
    outcomes = [False, False, True, True, True, False]

    bins, ece = charts.reliability_bins(confidences, outcomes, bins=10)

    assert [(b.count, b.accuracy) for b in bins] == [(2, 0.0), (4, 0.75)]
    # 2/6 * |0 - 0.15| + 4/6 * |0.75 - 0.85|
    assert ece == pytest.approx(2 / 6 * 0.15 + 4 / 6 * 0.10)


def test_a_confidence_of_one_lands_in_the_last_bin():
    bins, _ = charts.reliability_bins([1.0], [True], bins=10)

    assert (bins[0].lower, bins[0].upper) == (0.9, 1.0)


def test_the_reliability_diagram_draws_the_diagonal_the_curve_counts_and_ece():
    bins, ece = charts.reliability_bins([0.1, 0.3, 0.3, 0.9], [0, 1, 0, 1], bins=5)

    root = parse(charts.reliability_diagram(bins=bins, ece=ece, title="snapshot 7"))

    assert len(of_class(root, "line", "diagonal")) == 1
    curve = of_class(root, "polyline", "calibration-curve")
    assert len(curve[0].get("points").split()) == len(bins)
    assert len(of_class(root, "rect", "bin-count")) == len(bins)
    assert f"ECE {ece:.3f}" in texts(root)


def test_the_kpi_chart_draws_the_threshold_below_the_baseline():
    rates = [0.9] * 20 + [0.6] * 10

    root = parse(
        charts.kpi_chart(
            rates=rates,
            baseline=(0, 20),
            window=(20, 30),
            baseline_rate=0.9,
            current_rate=0.6,
            threshold_rate=0.72,
        )
    )

    lines = {el.get("data-level"): float(el.get("y1")) for el in of_class(root, "line", "hline")}
    # SVG y grows downwards: the threshold sits below the baseline and above the current rate.
    assert lines["baseline"] < lines["threshold"] < lines["current"]
    assert len(of_class(root, "rect", "band")) == 2
    assert "fires below 0.72" in texts(root)


def test_the_histogram_marks_only_the_thresholds_a_proposal_moves():
    counts, edges = charts.histogram([0.1, 0.39, 0.4, 0.41, 0.8], buckets=10)

    root = parse(
        charts.score_histogram(
            counts=counts,
            edges=edges,
            thresholds=[0.4, 0.7],
            proposed=[0.45, 0.7],
            bands=["LOW", "MEDIUM", "HIGH"],
        )
    )

    assert sum(counts) == 5
    assert len(of_class(root, "rect", "bucket")) == 10
    labels = texts(root)
    assert "LOW|MEDIUM 0.4" in labels and "MEDIUM|HIGH 0.7" in labels
    assert [t for t in labels if t.startswith("proposed ")] == ["proposed 0.45"]


def test_the_histogram_refuses_edges_that_do_not_frame_the_counts():
    with pytest.raises(ValueError, match="edges"):
        charts.score_histogram(counts=[1, 2], edges=[0, 1], thresholds=[])


def test_regret_and_pass_rate_charts_plot_time_series_with_their_reference_lines():
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    points = [(start + dt.timedelta(hours=h), score) for h, score in [(0, 1), (5, 4), (9, 7.5)]]

    regret = parse(charts.regret_chart(points=points, demote_at=10))
    passes = parse(charts.pass_rate_chart(points=[(t, v / 10) for t, v in points], target=0.9))

    assert "auto-demote at 10" in texts(regret)
    assert len(of_class(regret, "polyline", "series")[0].get("points").split()) == 3
    assert "target 90%" in texts(passes)


@pytest.mark.parametrize(
    "svg",
    [
        pytest.param(
            lambda: charts.kpi_chart(
                rates=[],
                baseline=(0, 0),
                window=(0, 0),
                baseline_rate=None,
                current_rate=None,
                threshold_rate=None,
            ),
            id="kpi",
        ),
        pytest.param(lambda: charts.reliability_diagram(bins=[], ece=None), id="reliability"),
        pytest.param(lambda: charts.regret_chart(points=[], demote_at=5), id="regret"),
        pytest.param(lambda: charts.pass_rate_chart(points=[]), id="pass-rate"),
        pytest.param(
            lambda: charts.score_histogram(counts=[0, 0], edges=[0, 0.5, 1], thresholds=[0.5]),
            id="histogram",
        ),
    ],
)
def test_empty_data_gives_a_chart_that_says_so(svg):
    root = parse(svg())

    assert any(t.startswith("no ") for t in texts(root))


def test_titles_are_escaped():
    svg = charts.empty_chart('<script>alert("x")</script>')

    assert "<script>" not in svg
    assert parse(svg).find(f"{SVG}title").text == '<script>alert("x")</script>'


def test_the_kpi_chart_skips_rates_still_filling_their_rolling_window():
    root = parse(
        charts.kpi_chart(
            rates=[None, None, 0.5, 0.6],
            baseline=(0, 2),
            window=(2, 4),
            baseline_rate=0.5,
            current_rate=0.6,
            threshold_rate=0.4,
        )
    )

    assert len(of_class(root, "polyline", "series")[0].get("points").split()) == 2


def test_the_legend_has_its_own_row_under_a_long_title():
    counts, edges = charts.histogram([0.1, 0.39, 0.4, 0.41, 0.8], buckets=10)

    root = parse(
        charts.score_histogram(
            counts=counts,
            edges=edges,
            thresholds=[0.4],
            proposed=[0.44],
            bands=["LOW", "MEDIUM"],
            title="Score distribution, snapshot 12 (900 decisions) with a long name",
        )
    )

    title = of_class(root, "text", "chart-title")[0]
    legend = next(el for el in root.iter(f"{SVG}g") if el.get("class") == "legend")
    legend_top = min(float(r.get("y")) for r in legend.iter(f"{SVG}rect"))
    assert legend_top > float(title.get("y"))
    assert legend_top + 10 <= charts.MARGIN_TOP


def test_level_labels_sit_in_the_gutter_apart_from_each_other_and_the_data():
    root = parse(
        charts.kpi_chart(
            rates=[None] * 49 + [0.9] * 150 + [0.76] * 50,
            baseline=(0, 200),
            window=(200, 250),
            baseline_rate=0.9,
            current_rate=0.76,
            threshold_rate=0.72,
            window_events=50,
        )
    )

    series = of_class(root, "polyline", "series")[0]
    right_of_data = max(float(p.split(",")[0]) for p in series.get("points").split())
    labels = [el for el in root.iter(f"{SVG}text") if "gutter-label" in (el.get("class") or "")]
    assert {el.text.split()[0] for el in labels} == {"baseline", "fires", "current"}
    assert all(float(el.get("x")) > right_of_data for el in labels)
    ys = sorted(float(el.get("y")) for el in labels)
    assert all(b - a >= charts.LABEL_GAP for a, b in itertools.pairwise(ys))
    assert "mean of the last 50 events" in texts(root)


def test_the_current_level_turns_red_only_below_the_firing_level():
    def current_colour(current):
        root = parse(
            charts.kpi_chart(
                rates=[0.9, current],
                baseline=(0, 1),
                window=(1, 2),
                baseline_rate=0.9,
                current_rate=current,
                threshold_rate=0.72,
            )
        )
        return next(
            el for el in of_class(root, "line", "hline") if el.get("data-level") == "current"
        ).get("stroke")

    assert current_colour(0.76) == charts.LINE
    assert current_colour(0.70) == charts.DANGER


@pytest.mark.parametrize(
    ("ece", "colour"),
    [
        pytest.param(0.038, charts.GOOD, id="good-is-green"),
        pytest.param(0.08, charts.FAIR, id="fair-is-amber"),
        pytest.param(0.27, charts.DANGER, id="poor-is-red"),
    ],
)
def test_the_ece_label_is_coloured_by_what_it_means(ece, colour):
    bins, _ = charts.reliability_bins([0.1, 0.9], [0, 1], bins=10)

    root = parse(charts.reliability_diagram(bins=bins, ece=ece))

    assert of_class(root, "text", "ece")[0].get("fill") == colour


def test_time_axis_labels_stay_inside_the_picture():
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    points = [(start + dt.timedelta(days=i), 0.5 + i / 100) for i in range(10)]

    root = parse(charts.pass_rate_chart(points=points))

    for el in of_class(root, "text", "x-tick"):
        x, width = float(el.get("x")), charts._text_width(el.text, 10)
        left = {"start": x, "middle": x - width / 2, "end": x - width}[el.get("text-anchor")]
        assert left >= 0 and left + width <= charts.WIDTH, el.text


def test_the_regret_chart_labels_the_score_now_as_a_number():
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)

    root = parse(
        charts.regret_chart(
            points=[(start, 0.0), (start + dt.timedelta(days=2), 7.9)], demote_at=10, current=7.86
        )
    )

    assert "now 7.9" in texts(root)
    assert "auto-demote at 10" in texts(root)
