"""The reviewer pages of issue 15 as a reviewer sees them at 1280 px in real Chromium: the
checkpoint queue links every row to its decide page, the ledger list shows actor and time,
chart legends and labels stay clear of titles, data and edges, the regret score is a number
and a good ECE is green. Also writes the control room's screenshot for the README."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from calibration.models import CalibratorVersion, ConfigProposal, MetricsSnapshot, ModelStage
from governance.models import Tenant
from learning.models import LearnedPolicy
from tripwire.models import RegressionPolicy

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "control-room.png"
VIEWPORT_WIDTH = 1280


def overlap(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def inside(inner: dict, outer: dict, slack: float = 0.5) -> bool:
    return (
        inner["x"] >= outer["x"] - slack
        and inner["y"] >= outer["y"] - slack
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + slack
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + slack
    )


@pytest.fixture
def demo(page):
    call_command("demo", "--force", verbosity=0)
    page.login("reviewer", "reviewer-demo-pass")
    return Tenant.objects.get(slug="demo")


def assert_charts_are_legible(page, name: str) -> int:
    """Every chart's legend is clear of its title, every text is inside the picture and the
    level labels in the gutter overlap neither each other nor the data."""
    charts = page.tab.locator("svg.govloop-chart")
    for i in range(charts.count()):
        chart = charts.nth(i)
        box = chart.bounding_box()
        title = chart.locator("text.chart-title").bounding_box()
        legend = chart.locator("g.legend")
        if legend.count():
            assert not overlap(legend.bounding_box(), title), f"{name} chart {i}: legend on title"
        for text in chart.locator("text").all():
            assert inside(text.bounding_box(), box), f"{name} chart {i}: {text.text_content()!r}"
        labels = [el.bounding_box() for el in chart.locator("text.gutter-label").all()]
        series = chart.locator("polyline.series")
        data = series.bounding_box() if series.count() else None
        for j, label in enumerate(labels):
            assert data is None or label["x"] >= data["x"] + data["width"], f"{name}: on data"
            assert not any(overlap(label, other) for other in labels[j + 1 :]), name
    return charts.count()


def test_the_queue_links_every_row_to_where_its_subject_is_decided(page, demo):
    page.goto(reverse("admin:governance_checkpoint_changelist"))
    rows = page.tab.locator("#result_list tbody tr")

    assert rows.count() >= 2
    for i in range(rows.count()):
        row = rows.nth(i)
        link = row.locator("td.field-subject_link a.decide")
        assert link.count() == 1 and link.is_visible()
        assert re.fullmatch(r"/admin/govloop/versions/\d+/decide/", link.get_attribute("href"))
        expiry = row.locator("td.field-expiry").bounding_box()
        assert expiry["x"] + expiry["width"] <= VIEWPORT_WIDTH, "expiry cut off"
        assert row.locator("td.field-what").bounding_box()["width"] >= 300, "description squeezed"
    page.screenshot("queue")
    rows.first.locator("a.decide").click()
    page.tab.wait_for_load_state()
    assert page.tab.locator("#decision").is_visible()


def test_the_ledger_list_shows_actor_and_time_at_1280_px(page, demo):
    page.goto(reverse("admin:governance_ledgerentry_changelist"))

    for column in ("created_at", "actor", "kind", "subject_link"):
        header = page.tab.locator(f"#result_list thead th.column-{column}").bounding_box()
        assert header is not None and header["x"] + header["width"] <= VIEWPORT_WIDTH, column
    rows = page.tab.locator("#result_list tbody tr")
    linked = page.tab.locator("#result_list tbody td.field-subject_link a")
    assert linked.count() >= rows.count() - 5  # entries without a subject (imports) have none
    page.screenshot("ledger")


def test_chart_pages_keep_legends_labels_and_axes_clear(page, demo):
    policy = RegressionPolicy.objects.get(tenant=demo)
    pages = {
        "kpi": reverse("govloop-kpi", args=[policy.pk]),
        "snapshot": reverse("govloop-snapshot", args=[MetricsSnapshot.objects.get(tenant=demo).pk]),
        "decide": reverse(
            "govloop-version-decide",
            args=[ConfigProposal.objects.get(tenant=demo).proposed_version_id],
        ),
        "regret": reverse("govloop-regret", args=[LearnedPolicy.objects.get(tenant=demo).pk]),
        "calibrator": reverse(
            "govloop-calibrator",
            args=[CalibratorVersion.objects.get(tenant=demo, stage=ModelStage.PRODUCTION).pk],
        ),
        "backtests": reverse("govloop-backtests", args=["demo"]),
    }
    for name, path in pages.items():
        page.goto(path)
        assert assert_charts_are_legible(page, name) >= 1, name
        page.screenshot(name)


def test_the_regret_page_shows_the_score_as_a_number(page, demo):
    page.goto(reverse("govloop-regret", args=[LearnedPolicy.objects.get(tenant=demo).pk]))

    value = page.tab.locator("#row-regret-score td.value").inner_text()
    assert re.fullmatch(r"\d+\.\d of \d+(\.\d+)?", value), value
    chart_label = page.tab.locator("svg.govloop-chart text.gutter-label.current").text_content()
    assert chart_label == f"now {value.split()[0]}"


def test_a_good_calibrator_ece_is_green_and_shown_once(page, demo):
    version = CalibratorVersion.objects.get(tenant=demo, stage=ModelStage.PRODUCTION)
    page.goto(reverse("govloop-calibrator", args=[version.pk]))

    ece = f"{version.metrics['ece']:.3f}"
    after = page.tab.locator("svg.govloop-chart").nth(1).locator("text.ece")
    assert after.text_content() == f"ECE {ece}"
    assert after.get_attribute("fill") == "#2e7d32"
    assert page.tab.locator("#row-metric-ece td.value").inner_text().startswith(ece)
    assert page.tab.locator("#row-metric-cv_folds td.value").inner_text() == "5"
    page.goto(reverse("admin:index"))
    assert f"ECE {ece}" in page.tab.locator("#panel-calibrators").inner_text()


def test_the_control_room_screenshot(page, demo):
    """`make screenshot` runs this test alone (a fresh database: the ids the README links to)
    with UPDATE_SCREENSHOTS=1, and it writes docs/control-room.png, the README's picture;
    otherwise the picture only lands in test-artifacts/ with the other screenshots."""
    page.tab.set_viewport_size({"width": VIEWPORT_WIDTH, "height": 1180})
    page.goto(reverse("admin:index"))
    assert page.tab.locator("#control-room").is_visible()
    grid = page.tab.locator("#content-main .govloop-grid").bounding_box()
    assert grid["x"] + grid["width"] <= VIEWPORT_WIDTH
    path = page.screenshot("control-room")
    assert path.stat().st_size > 10_000
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        # The panels, not the model list below them.
        page.tab.screenshot(
            path=str(DOCS_SCREENSHOT),
            clip={
                "x": 0,
                "y": 0,
                "width": VIEWPORT_WIDTH,
                "height": grid["y"] + grid["height"] + 16,
            },
        )
        assert DOCS_SCREENSHOT.stat().st_size > 10_000
