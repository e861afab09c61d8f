import pytest
from django.urls import reverse
from django.utils import timezone

from calibration.demo import seed
from calibration.models import ConfigProposal, MetricsSnapshot
from governance.control_room import collect_panels
from governance.models import ConfigVersion, VersionState

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(tenant, reviewer):
    now = timezone.now()
    seed(tenant=tenant, now=now)
    return now


def test_the_demo_crowds_a_threshold_into_a_pending_proposal(tenant, reviewer, seeded):
    seed(tenant=tenant, now=seeded)  # twice: nothing more

    proposal = ConfigProposal.objects.get(tenant=tenant)
    version = proposal.proposed_version
    assert version.state == VersionState.PENDING_APPROVAL
    assert version.payload["thresholds"][0] != 0.4
    assert ConfigVersion.objects.filter(tenant=tenant, state=VersionState.ACTIVE).count() == 1
    assert proposal.report.findings.filter(kind="boundary_crowding").exists()


def test_the_decide_page_shows_findings_and_the_moved_threshold(client, tenant, reviewer, seeded):
    version = ConfigProposal.objects.get(tenant=tenant).proposed_version
    client.force_login(reviewer)

    body = client.get(reverse("govloop-version-decide", args=[version.pk])).content.decode()

    assert "Findings of calibration report" in body
    assert "proposed 0." in body
    assert "LOW|MEDIUM 0.4" in body


def test_the_snapshot_page_draws_the_histogram_and_the_reliability_diagram(
    client, tenant, reviewer, seeded
):
    snapshot = MetricsSnapshot.objects.get(tenant=tenant)
    client.force_login(reviewer)

    body = client.get(reverse("govloop-snapshot", args=[snapshot.pk])).content.decode()

    assert 'class="bucket"' in body
    assert 'class="diagonal"' in body and "ECE 0." in body


def test_the_pipeline_panel_links_the_pending_proposal(tenant, reviewer, seeded):
    panel = next(p for p in collect_panels(tenant=tenant) if p.key == "calibration-pipeline")

    proposal_row = next(r for r in panel.rows if r.label == "proposal")
    assert proposal_row.value == "awaits approval"
    assert proposal_row.url.endswith("/decide/")
