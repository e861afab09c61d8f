"""The loop's admin pages: runs with pass rates, failures with their analysis, proposals
with their sandbox reports and the gate line by line."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from governance.models import ConfigVersion, VersionState
from learning.models import BacktestCase, LoopProposal, ProposalState
from learning.services import loop as services
from tests.factories.loop import activate_version, term_emergence_cases, term_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def looped(tenant, reviewer):
    activate_version(tenant=tenant, payload=term_payload(), reviewer=reviewer)
    term_emergence_cases(tenant)
    services.learning_loop_run(tenant=tenant, auto_promote=False)
    return LoopProposal.objects.get(tenant=tenant)


@pytest.fixture
def browser(reviewer):
    client = Client()
    client.force_login(reviewer)
    return client


def test_the_run_list_shows_pass_rates(browser, looped):
    page = browser.get(reverse("admin:learning_backtestrun_changelist"))
    assert page.status_code == 200
    assert "66.7%" in page.content.decode()


def test_a_failure_page_shows_its_analysis(browser, looped):
    page = browser.get(reverse("admin:learning_failureanalysis_change", args=[looped.failure_id]))
    body = page.content.decode()
    assert page.status_code == 200
    assert "flag_rule_too_strict" in body and "flag_rules[0].value" in body


def test_a_proposal_page_shows_the_sandbox_report_and_the_gate_line_by_line(browser, looped):
    page = browser.get(reverse("admin:learning_loopproposal_change", args=[looped.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    for criterion in (
        "improvement_threshold",
        "failed_case_now_passes",
        "no_protected_regression",
        "no_regression",
        "time_within_20_percent",
        "memory_within_20_percent",
        "stabilization",
    ):
        assert criterion in body
    assert "declared by the proposal" in body and "ELIGIBLE" in body


def test_the_promote_button_registers_a_pending_version(browser, looped, tenant):
    url = reverse("admin:learning_loopproposal_change", args=[looped.pk])
    browser.post(url, {"_fsm_transition_to": "promote"})
    looped.refresh_from_db()
    assert looped.state == ProposalState.PROMOTED
    assert looped.promoted_version.state == VersionState.PENDING_APPROVAL
    version_page = browser.get(
        reverse("admin:governance_configversion_change", args=[looped.promoted_version_id])
    )
    assert "learning.provenance" in version_page.content.decode()
    assert ConfigVersion.objects.get(tenant=tenant, state=VersionState.ACTIVE).version == "1.0.0"


def test_a_case_added_in_the_admin_goes_through_the_service(browser, tenant):
    browser.post(
        reverse("admin:learning_backtestcase_add"),
        {
            "tenant": tenant.pk,
            "case_id": "admin_case",
            "description": "",
            "features": '{"risk_signal": 0.3}',
            "expected_decision": "LOW",
            "expected_flags": "[]",
            "expected_escalate": "unknown",
            "protected": "on",
        },
    )
    case = BacktestCase.objects.get(case_id="admin_case")
    assert case.protected is True
    from governance.models import LedgerEntry

    assert LedgerEntry.objects.filter(
        kind="learning.backtest_cases.imported", tenant=tenant
    ).exists()


@pytest.mark.parametrize(
    "model",
    [
        "backtestcase",
        "backtestrun",
        "backtestresult",
        "failureanalysis",
        "loopproposal",
        "sandboxrun",
    ],
)
def test_every_loop_list_and_detail_page_renders(browser, looped, model):
    from django.apps import apps

    listing = browser.get(reverse(f"admin:learning_{model}_changelist"))
    assert listing.status_code == 200
    obj = apps.get_model("learning", model).objects.order_by("pk").first()
    detail = browser.get(reverse(f"admin:learning_{model}_change", args=[obj.pk]))
    assert detail.status_code == 200


def test_another_tenants_runs_are_not_listed(browser, looped, other_tenant, make_reviewer):
    outsider = make_reviewer("olga", for_tenant=other_tenant)
    client = Client()
    client.force_login(outsider)
    page = client.get(reverse("admin:learning_backtestrun_changelist"))
    assert page.status_code == 200
    assert "run_000001" not in page.content.decode()


def test_a_promoted_version_decide_page_renders_the_failure_analysis_and_the_pass_rate_in_pp(
    browser, looped
):
    browser.post(
        reverse("admin:learning_loopproposal_change", args=[looped.pk]),
        {"_fsm_transition_to": "promote"},
    )
    looped.refresh_from_db()

    body = browser.get(
        reverse("govloop-version-decide", args=[looped.promoted_version_id])
    ).content.decode()

    assert '<div class="markdown"><h2>Failure analysis' in body
    assert "## " not in body and "**" not in body
    assert "pass-rate change" in body and " pp" in body
    assert "pass rate delta" not in body


def test_pass_rates_read_as_percentages_and_their_change_in_percentage_points(browser, looped):
    body = browser.get(
        reverse("admin:learning_loopproposal_change", args=[looped.pk])
    ).content.decode()

    assert "66.7% →" in body and " pp)" in body


def test_backtesting_again_from_the_admin_analyses_the_new_runs_misses_at_once(browser, looped):
    from learning.models import BacktestRun, FailureAnalysis

    first = BacktestRun.objects.get()

    response = browser.post(
        reverse("admin:learning_backtestrun_changelist"),
        {"action": "rerun", "_selected_action": [first.pk]},
    )

    assert response.status_code == 302
    rerun = BacktestRun.objects.exclude(pk=first.pk).get()
    assert rerun.miss_count == 2
    assert set(
        FailureAnalysis.objects.filter(run=rerun).values_list("case__case_id", flat=True)
    ) == {"case_band_001", "case_term_emergence_001"}
