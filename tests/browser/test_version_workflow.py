"""A config version's path in real Chromium: the author submits a draft from its diff-and-
decide page; another reviewer approves it and activates it with the admin's FSM buttons and
their reason forms; then a calibration proposal is approved and activated from the
diff-and-decide page itself."""

from __future__ import annotations

import pytest
from django.utils import timezone

from calibration.demo import seed as seed_calibration
from calibration.models import ConfigProposal
from governance.models import ConfigVersion, VersionState
from governance.services.ledger import Actor
from governance.services.versions import version_activate, version_approve, version_register
from tests.factories import scoring_payload

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def active_and_draft(tenant, author, second_reviewer):
    base = version_register(
        tenant=tenant,
        family="scoring",
        version="1.0.0",
        payload=scoring_payload(),
        actor=Actor.for_user(author),
        submit=True,
    )
    version_approve(version=base, user=second_reviewer, reason="baseline")
    version_activate(version=base, user=second_reviewer, reason="baseline")
    draft = version_register(
        tenant=tenant,
        family="scoring",
        version="1.1.0",
        payload=scoring_payload(thresholds=[0.45, 0.7]),
        actor=Actor.for_user(author),
        description="Move the LOW/MEDIUM boundary away from a crowded score",
        changes=[
            {
                "description": "thresholds[0]: 0.4 -> 0.45",
                "date": "2026-11-24",
                "impact": "non-breaking",
                "affected_components": ["scoring"],
            }
        ],
        base_version=base,
    )
    return base, draft


def test_the_author_submits_and_a_reviewer_approves_and_activates(page, active_and_draft, reviewer):
    base, draft = active_and_draft

    page.login("alex")
    page.goto(f"/admin/govloop/versions/{draft.pk}/decide/")
    page.screenshot("author-draft")
    page.tab.get_by_role("button", name="Submit for approval").click()
    page.tab.wait_for_load_state()
    assert any("submit: done" in m.lower() for m in page.messages()), page.messages()
    assert page.tab.get_by_role("button", name="Approve").count() == 0  # four eyes
    page.screenshot("author-submitted")

    page.login("rita")
    page.goto("/admin/")
    page.screenshot("control-room")
    page.tab.locator("#panel-checkpoints").get_by_text("config_approval").first.wait_for()
    page.goto(f"/admin/governance/configversion/{draft.pk}/change/")
    page.screenshot("pending-version")
    page.transition("Approve", reason="Boundary moved away from the crowded score; replay clean")
    assert any("approve: done" in m.lower() for m in page.messages()), page.messages()
    page.screenshot("approved")

    page.transition("Activate", reason="Activating after approval")
    assert any("activate: done" in m.lower() for m in page.messages()), page.messages()
    page.screenshot("activated")

    draft.refresh_from_db()
    base.refresh_from_db()
    assert draft.state == VersionState.ACTIVE
    assert base.state == VersionState.SUPERSEDED
    assert ConfigVersion.objects.filter(state=VersionState.ACTIVE).count() == 1


def test_a_reviewer_decides_a_calibration_proposal_beside_its_diff(page, tenant, reviewer):
    seed_calibration(tenant=tenant, now=timezone.now())
    proposed = ConfigProposal.objects.get(tenant=tenant).proposed_version

    page.login("rita")
    page.goto("/admin/")
    page.tab.locator("#panel-calibration-pipeline").get_by_role("link", name="proposal").click()
    page.tab.wait_for_load_state()
    assert page.tab.locator("svg.govloop-chart").count() >= 1
    page.screenshot("decide-page")
    page.tab.fill("#id_reason", "Crowding finding confirmed; 3% of decisions change band")
    page.tab.get_by_role("button", name="Approve").click()
    page.tab.wait_for_load_state()
    assert page.tab.locator("#version-state").inner_text() == "APPROVED"
    page.tab.fill("#id_reason", "Activate the calibrated thresholds")
    page.tab.get_by_role("button", name="Activate").click()
    page.tab.wait_for_load_state()
    page.screenshot("decided")

    proposed.refresh_from_db()
    assert proposed.state == VersionState.ACTIVE
