import datetime as dt

import numpy as np
import pytest
from django.urls import reverse

from calibration.admin.pipeline import calibration_summary_html
from calibration.models import PatternCalibration
from calibration.services import pipeline as services
from calibration.services.patterns import pattern_outcomes_record
from governance.services.ledger import Actor
from tests.calibration.conftest import one_feature_payload
from tests.factories.calibration import make_decisions

ACTOR = Actor.system("test")


@pytest.fixture
def proposal(tenant, activate_scoring):
    payload = one_feature_payload()
    activate_scoring(payload)
    rng = np.random.default_rng(5)
    scores = np.concatenate([rng.uniform(0.381, 0.419, 300), rng.uniform(0, 0.999, 300)])
    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    make_decisions(tenant, np.round(scores, 4).tolist(), payload=payload, decided_at=yesterday)
    return services.calibration_pipeline_run(tenant=tenant, actor=ACTOR, export=False)["proposal"]


@pytest.mark.django_db
def test_the_proposal_page_shows_the_change_summary_beside_the_diff(admin_client, proposal):
    url = reverse("admin:calibration_configproposal_change", args=[proposal.pk])

    body = admin_client.get(url).content.decode()

    assert "thresholds[0]" in body
    assert "F1 [high]" in body
    assert "against active v1.0.0" in body
    assert "of decisions change band" in body


@pytest.mark.django_db
def test_the_report_page_lists_its_findings(admin_client, proposal):
    url = reverse("admin:calibration_calibrationreport_change", args=[proposal.report_id])

    body = admin_client.get(url).content.decode()

    assert "of scores lie within 0.02 of threshold 0.4" in body
    assert "high" in body


@pytest.mark.django_db
def test_the_snapshot_and_decision_lists_render(admin_client, proposal):
    for name in ("metricssnapshot", "calibrationreport", "configproposal", "decision"):
        response = admin_client.get(reverse(f"admin:calibration_{name}_changelist"))
        assert response.status_code == 200, name
    snapshot_url = reverse(
        "admin:calibration_metricssnapshot_change", args=[proposal.report.snapshot_id]
    )
    assert "score_histogram" in admin_client.get(snapshot_url).content.decode()


@pytest.mark.django_db
def test_the_config_version_hook_renders_only_for_calibration_versions(proposal):
    assert "thresholds[0]" in calibration_summary_html(proposal.proposed_version)
    assert calibration_summary_html(proposal.base_version) == "—"


@pytest.mark.django_db
def test_pattern_calibrations_show_their_thresholds_and_recalibrate(admin_client, tenant):
    rows = [{"pattern": "sig", "confidence": i / 100, "was_correct": i > 40} for i in range(1, 41)]
    pattern_outcomes_record(tenant=tenant, outcomes=rows)
    PatternCalibration.objects.create(tenant=tenant, pattern="empty")
    url = reverse("admin:calibration_patterncalibration_changelist")

    response = admin_client.post(
        url,
        {
            "action": "recalibrate_selected",
            "_selected_action": list(PatternCalibration.objects.values_list("pk", flat=True)),
        },
    )
    listing = admin_client.get(url).content.decode()

    assert response.status_code == 302
    assert PatternCalibration.objects.get(pattern="sig").is_calibrated
    assert "sig" in listing and "empty" in listing
