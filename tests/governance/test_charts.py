import datetime as dt
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

    lines = {el.get("stroke"): float(el.get("y1")) for el in of_class(root, "line", "hline")}
    # SVG y grows downwards: the threshold sits below the baseline and above the current rate.
    assert lines[charts.BASELINE] < lines[charts.DANGER] < lines[charts.WINDOW]
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
