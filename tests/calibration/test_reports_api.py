"""The read-only API of the calibration pipeline's outputs: snapshots, reports with their
findings, and config proposals; tenant-scoped (another tenant's ids are 404) and read-only."""

from __future__ import annotations

import datetime as dt

import pytest

from calibration.models import ProposalStatus
from calibration.services import pipeline as services
from governance.services.ledger import Actor
from tests.calibration.conftest import one_feature_payload
from tests.calibration.test_pipeline import crowded_scores
from tests.factories.calibration import make_decisions

pytestmark = pytest.mark.django_db
BASE = "/api/calibration"
ACTOR = Actor.system("test-calibration")
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def run_pipeline(tenant, activate_scoring=None):
    payload = one_feature_payload()
    if activate_scoring is not None:
        activate_scoring(payload)
    make_decisions(tenant, crowded_scores(), payload=payload, decided_at=NOW - dt.timedelta(days=1))
    return services.calibration_pipeline_run(tenant=tenant, actor=ACTOR, export=False, now=NOW)


@pytest.fixture
def pipeline(tenant, activate_scoring):
    return run_pipeline(tenant, activate_scoring)


def test_a_snapshot_is_listed_without_its_metrics_and_read_with_them(api, pipeline):
    snapshot = pipeline["snapshot"]

    listed = api.get(f"{BASE}/snapshots/").json()
    detail = api.get(f"{BASE}/snapshots/{snapshot.pk}/").json()

    assert listed["count"] == 1
    assert listed["results"][0]["id"] == snapshot.pk
    assert listed["results"][0]["decision_count"] == 600
    assert "metrics" not in listed["results"][0]
    assert detail["export_name"] == "metrics_snapshot_20261120_120000.json"
    assert detail["metrics"] == snapshot.metrics


def test_a_report_shows_its_findings_in_order_and_its_proposal(api, pipeline):
    report, proposal = pipeline["report"], pipeline["proposal"]

    detail = api.get(f"{BASE}/reports/{report.pk}/").json()

    assert detail["snapshot"] == pipeline["snapshot"].pk
    assert detail["proposal"] == proposal.pk
    expected = [(f.code, f.kind, f.severity, f.title) for f in report.findings.order_by("position")]
    assert [(f["code"], f["kind"], f["severity"], f["title"]) for f in detail["findings"]] == (
        expected
    )
    assert "boundary_crowding" in {f["kind"] for f in detail["findings"]}
    filtered = api.get(f"{BASE}/reports/?snapshot={pipeline['snapshot'].pk}").json()
    assert [r["id"] for r in filtered["results"]] == [report.pk]


def test_a_proposal_names_the_version_it_registered_and_the_one_it_was_based_on(api, pipeline):
    proposal = pipeline["proposal"]

    detail = api.get(f"{BASE}/config-proposals/{proposal.pk}/").json()

    assert detail["status"] == ProposalStatus.PROPOSED
    assert detail["report"] == pipeline["report"].pk
    assert (detail["base_version_number"], detail["proposed_version_number"]) == ("1.0.0", "1.1.0")
    assert detail["proposed_version"] == proposal.proposed_version_id
    assert detail["proposed_version_state"] == "PENDING_APPROVAL"
    assert detail["change_summary"] == proposal.change_summary
    listed = api.get(f"{BASE}/config-proposals/?status=PROPOSED").json()
    assert [p["id"] for p in listed["results"]] == [proposal.pk]


def test_a_report_without_a_proposal_reads_as_null(api, tenant):
    # No ACTIVE scoring version: nothing to base a proposal on.
    result = run_pipeline(tenant)

    detail = api.get(f"{BASE}/config-proposals/{result['proposal'].pk}/").json()

    assert detail["status"] == ProposalStatus.NOTHING_TO_PROPOSE
    assert detail["proposed_version"] is None
    assert detail["proposed_version_number"] is None


@pytest.mark.parametrize("kind", ["snapshots", "reports", "config-proposals"])
def test_another_tenants_ids_are_404_and_absent_from_the_lists(api, other_tenant, kind):
    theirs = run_pipeline(other_tenant)
    obj = {
        "snapshots": theirs["snapshot"],
        "reports": theirs["report"],
        "config-proposals": theirs["proposal"],
    }[kind]

    assert api.get(f"{BASE}/{kind}/{obj.pk}/").status_code == 404
    assert api.get(f"{BASE}/{kind}/").json()["count"] == 0


@pytest.mark.parametrize("kind", ["snapshots", "reports", "config-proposals"])
def test_the_outputs_are_read_only(api, pipeline, kind):
    obj = {
        "snapshots": pipeline["snapshot"],
        "reports": pipeline["report"],
        "config-proposals": pipeline["proposal"],
    }[kind]

    assert api.post(f"{BASE}/{kind}/", {}, format="json").status_code == 405
    assert api.patch(f"{BASE}/{kind}/{obj.pk}/", {}, format="json").status_code == 405
    assert api.delete(f"{BASE}/{kind}/{obj.pk}/").status_code == 405


def test_a_reviewer_reads_them_with_a_session_too(reviewer_api, pipeline):
    assert reviewer_api.get(f"{BASE}/reports/").json()["count"] == 1


def test_the_three_read_endpoints_are_in_the_openapi_document(client):
    paths = client.get("/api/schema/?format=json").json()["paths"]

    for kind in ("snapshots", "reports", "config-proposals"):
        assert set(paths[f"{BASE}/{kind}/"]) == {"get"}
        assert set(paths[f"{BASE}/{kind}/{{id}}/"]) == {"get"}
