"""The control levers in real Chromium: a reviewer engages and releases the kill switch from
the control room, and acknowledges a tripwire that fired (which had engaged the kill switch
on its own), from its KPI chart."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from governance.models import GoLiveState
from tripwire.demo import DOMAIN, METRIC
from tripwire.demo import seed as seed_tripwire
from tripwire.models import RegressionPolicy, RegressionState
from tripwire.services.regression import kpi_ingest, regression_evaluate

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def submit_lever_form(page, title: str, reason: str, shot: str):
    page.tab.fill("textarea[name=reason]", reason)
    page.screenshot(shot)
    page.tab.locator(f"input[type=submit][value='{title}']").click()
    page.tab.wait_for_load_state()
    assert any(f"{title.lower()}: done" in m.lower() for m in page.messages()), page.messages()


def kill_switch_row(page):
    return page.tab.locator("#panel-go-live").get_by_role("link", name="kill switch")


def test_a_reviewer_engages_and_releases_the_kill_switch(page, tenant, reviewer):
    seed_tripwire(tenant=tenant, now=timezone.now())

    page.login("rita")
    page.goto("/admin/")
    page.screenshot("control-room-live")
    kill_switch_row(page).click()
    page.tab.wait_for_load_state()
    submit_lever_form(page, "Engage the kill switch", "Suspicious spike in refunds", "engage-form")
    assert GoLiveState.objects.get(tenant=tenant).kill_switch_engaged

    page.goto("/admin/")
    assert page.tab.locator("#panel-go-live").get_by_text("ENGAGED").is_visible()
    page.screenshot("control-room-engaged")
    kill_switch_row(page).click()
    page.tab.wait_for_load_state()
    submit_lever_form(page, "Release the kill switch", "Refund spike explained", "release-form")

    state = GoLiveState.objects.get(tenant=tenant)
    assert not state.kill_switch_engaged and state.enabled


def test_a_reviewer_acknowledges_a_tripwire_that_fired(page, tenant, reviewer):
    now = timezone.now()
    seed_tripwire(tenant=tenant, now=now - dt.timedelta(minutes=30))
    policy = RegressionPolicy.objects.get(tenant=tenant, domain=DOMAIN, metric=METRIC)
    failures = [
        {
            "domain": DOMAIN,
            "metric": METRIC,
            "success": False,
            "created_at": (now - dt.timedelta(minutes=20 - i)).isoformat(),
        }
        for i in range(10)
    ]
    kpi_ingest(tenant=tenant, items=failures, now=now)
    regression_evaluate(policy=policy, now=now)
    assert RegressionState.objects.get(policy=policy).triggered
    assert GoLiveState.objects.get(tenant=tenant).kill_switch_engaged

    page.login("rita")
    page.goto("/admin/")
    page.screenshot("control-room-triggered")
    page.tab.locator("#panel-tripwires").get_by_role(
        "link", name=f"{DOMAIN}.{METRIC} TRIGGERED"
    ).click()
    page.tab.wait_for_load_state()
    assert page.tab.locator("svg.govloop-chart").count() == 1
    page.screenshot("kpi-chart")
    page.tab.get_by_role("link", name="Acknowledge the tripwire").click()
    page.tab.wait_for_load_state()
    submit_lever_form(
        page, "Acknowledge the tripwire", "Drop traced to a card-network outage", "acknowledge-form"
    )

    state = RegressionState.objects.get(policy=policy)
    assert not state.triggered and state.acknowledged_by_id == reviewer.pk

    page.goto("/admin/")
    kill_switch_row(page).click()
    page.tab.wait_for_load_state()
    submit_lever_form(
        page, "Release the kill switch", "Outage over, tripwire re-armed", "release-form"
    )
    page.goto("/admin/")
    page.screenshot("control-room-cleared")
    assert not GoLiveState.objects.get(tenant=tenant).kill_switch_engaged
