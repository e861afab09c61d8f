"""The reviewer's path through a config version in real Chromium: the author's version waits
for approval; a second reviewer approves it with a reason and activates it."""

from __future__ import annotations

import pytest

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
    proposed = version_register(
        tenant=tenant,
        family="scoring",
        version="1.1.0",
        payload=scoring_payload(thresholds=[0.45, 0.7]),
        actor=Actor.for_user(author),
        description="Move the LOW/MEDIUM boundary away from a crowded score",
        base_version=base,
        submit=True,
    )
    return base, proposed


def test_a_reviewer_approves_and_activates_the_authors_version(page, active_and_draft, reviewer):
    base, proposed = active_and_draft
    change_url = f"/admin/governance/configversion/{proposed.pk}/change/"

    page.login("rita")
    page.goto("/admin/")
    page.screenshot("admin-home")
    page.goto(change_url)
    page.screenshot("pending-version")
    page.transition("Approve", reason="Boundary moved away from the crowded score; replay clean")
    assert any("approve: done" in m.lower() for m in page.messages()), page.messages()
    page.screenshot("approved")

    page.transition("Activate", reason="Activating after approval")
    assert any("activate: done" in m.lower() for m in page.messages()), page.messages()
    page.screenshot("activated")

    proposed.refresh_from_db()
    base.refresh_from_db()
    assert proposed.state == VersionState.ACTIVE
    assert base.state == VersionState.SUPERSEDED
    assert ConfigVersion.objects.filter(state=VersionState.ACTIVE).count() == 1
