"""The guided demo in real Chromium: `manage.py demo` seeds the story, and every reviewer
page of the walkthrough renders its charts with no console error (one screenshot each)."""

from __future__ import annotations

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


def test_every_walkthrough_page_renders_its_charts(page):
    call_command("demo", "--force", verbosity=0)
    demo = Tenant.objects.get(slug="demo")
    pages = [
        ("control-room", reverse("admin:index"), 0),
        ("kpi", reverse("govloop-kpi", args=[RegressionPolicy.objects.get(tenant=demo).pk]), 1),
        (
            "snapshot",
            reverse("govloop-snapshot", args=[MetricsSnapshot.objects.get(tenant=demo).pk]),
            2,
        ),
        (
            "decide-calibration-proposal",
            reverse(
                "govloop-version-decide",
                args=[ConfigProposal.objects.get(tenant=demo).proposed_version_id],
            ),
            1,
        ),
        ("regret", reverse("govloop-regret", args=[LearnedPolicy.objects.get(tenant=demo).pk]), 1),
        ("backtests", reverse("govloop-backtests", args=["demo"]), 1),
        (
            "calibrator",
            reverse(
                "govloop-calibrator",
                args=[CalibratorVersion.objects.get(tenant=demo, stage=ModelStage.PRODUCTION).pk],
            ),
            2,
        ),
    ]

    page.login("reviewer", "reviewer-demo-pass")
    for name, path, charts in pages:
        page.goto(path)
        assert page.tab.locator("svg.govloop-chart").count() == charts, name
        page.screenshot(name)
    page.goto(reverse("admin:index"))
    for panel in (
        "go-live",
        "tripwires",
        "checkpoints",
        "versions",
        "graduation",
        "regret",
        "loop",
        "calibration-pipeline",
        "calibrators",
    ):
        assert page.tab.locator(f"#panel-{panel}").is_visible(), panel
