import datetime as dt
import json

import numpy as np
import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from calibration.models import (
    CalibrationReport,
    ConfigProposal,
    FindingKind,
    MetricsSnapshot,
    ProposalStatus,
)
from calibration.scoring import score
from calibration.services import pipeline as services
from governance.models import Checkpoint, CheckpointState, ConfigVersion, LedgerEntry, VersionState
from governance.selectors import active_config
from governance.services.ledger import Actor
from governance.services.versions import version_activate, version_approve, version_rollback
from tests.calibration.conftest import one_feature_payload
from tests.factories.calibration import make_decisions

ACTOR = Actor.system("test-calibration")
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
DAY_AGO = NOW - dt.timedelta(days=1)


def crowded_scores(n_crowded=300, n_spread=300):
    """Many scores within 0.02 of the 0.4 threshold, the rest spread over [0, 1)."""
    rng = np.random.default_rng(7)
    crowd = np.round(rng.uniform(0.381, 0.419, n_crowded), 4)
    spread = np.round(rng.uniform(0.0, 0.999, n_spread), 4)
    return np.concatenate([crowd, spread]).tolist()


def run_phases(tenant, **kwargs):
    snapshot = services.metrics_collect(tenant=tenant, actor=ACTOR, now=NOW, **kwargs)
    report = services.report_analyze(snapshot=snapshot, actor=ACTOR, now=NOW)
    proposal = services.proposal_generate(report=report, actor=ACTOR, now=NOW)
    return snapshot, report, proposal


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_whole_calibration_lifecycle_runs_from_decisions_to_rollback(
    tenant, activate_scoring, reviewer, second_reviewer, tmp_path
):
    payload = one_feature_payload()
    v1 = activate_scoring(payload)
    make_decisions(tenant, crowded_scores(), payload=payload, decided_at=DAY_AGO)

    # 1-3: collect, analyze, propose (the service chain the weekly task runs)
    result = services.calibration_pipeline_run(
        tenant=tenant, actor=ACTOR, output_dir=tmp_path, now=NOW
    )
    snapshot, report, proposal = result["snapshot"], result["report"], result["proposal"]
    assert snapshot.decision_count == 600
    assert report.findings.filter(kind=FindingKind.BOUNDARY_CROWDING).exists()
    assert proposal.status == ProposalStatus.PROPOSED
    proposed = proposal.proposed_version
    assert (proposed.version, proposed.state, proposed.source) == (
        "1.1.0",
        VersionState.PENDING_APPROVAL,
        "calibration",
    )
    assert proposed.base_version == v1
    checkpoint = Checkpoint.objects.get(subject_id=str(proposed.pk))
    assert checkpoint.state == CheckpointState.PENDING
    names = sorted(p.name for p in result["files"])
    assert names == sorted(
        [
            snapshot.export_name,
            report.export_name,
            "scoring_config_v1.1.0.json",
            "change_summary_v1.1.0.json",
        ]
    )
    assert snapshot.export_name == "metrics_snapshot_20261120_120000.json"
    # Nothing changed at runtime: v1 is still what the runtime applies.
    assert active_config(tenant_id=tenant.pk, family="scoring")["version"] == "1.0.0"

    # 4-5: human review, approval, activation
    approved = version_approve(version=proposed, user=second_reviewer, reason="reviewed")
    activated = version_activate(version=approved, user=reviewer, reason="ship calibration")
    cache.clear()
    assert active_config(tenant_id=tenant.pk, family="scoring")["version"] == "1.1.0"
    assert activated.payload["thresholds"][0] != 0.4

    # Roll back to the previous version.
    v1.refresh_from_db()
    version_rollback(version=v1, user=reviewer, reason="regression seen")
    cache.clear()
    assert active_config(tenant_id=tenant.pk, family="scoring")["version"] == "1.0.0"
    kinds = list(LedgerEntry.objects.filter(tenant=tenant).values_list("kind", flat=True))
    for kind in (
        "calibration.metrics_collected",
        "calibration.report_created",
        "version.registered",
        "calibration.proposal_generated",
        "version.approved",
        "version.activated",
        "version.rolled_back",
    ):
        assert kind in kinds


@pytest.mark.django_db
def test_a_crowded_threshold_is_moved_with_an_impact_that_rescoring_the_histogram_confirms(
    tenant, activate_scoring
):
    payload = one_feature_payload()
    activate_scoring(payload)
    make_decisions(tenant, crowded_scores(), payload=payload, decided_at=DAY_AGO)

    snapshot, report, proposal = run_phases(tenant)

    crowding = report.findings.get(kind=FindingKind.BOUNDARY_CROWDING)
    assert crowding.severity == "high"
    assert crowding.numbers["threshold"] == 0.4
    assert crowding.numbers["share"] > 0.25
    (change,) = [c for c in proposal.change_summary["changes"] if c["path"] == "thresholds[0]"]
    assert change["old"] == 0.4 and change["new"] != 0.4
    assert abs(change["new"] - 0.4) <= 0.05 + 1e-9
    assert change["finding"]["code"] == crowding.code and change["rationale"]
    new_payload = proposal.proposed_version.payload
    assert new_payload["thresholds"] == [change["new"], 0.7]
    # Re-score every histogram bucket (at its midpoint) under both configs by hand.
    counts = snapshot.metrics["score_histogram"]["counts"]
    changed = total = 0
    for bucket, n in counts.items():
        mid = (int(bucket) + 0.5) / 100
        total += n
        if score(payload, {"x": mid}).band != score(new_payload, {"x": mid}).band:
            changed += n
    assert change["impact"]["band_change_share"] == pytest.approx(changed / total)
    assert change["impact"]["decisions_counted"] == total
    assert 0 < changed / total < 0.6


def test_ece_on_fixed_pairs_equals_the_hand_computation():
    confidences = [0.05, 0.15, 0.15, 0.55, 0.58, 0.95, 0.95, 0.95, 0.95, 1.0]
    outcomes = [False, True, False, True, False, True, True, True, False, True]
    # Equal-width bins of 0.1: bin 0 {0.05: 0/1}, bin 1 {0.15, 0.15: 1/2},
    # bin 5 {0.55, 0.58: 1/2}, bin 9 {0.95 x4, 1.0: 4/5}.
    gaps = {
        0: (1, abs(0.05 - 0.0)),
        1: (2, abs(0.15 - 0.5)),
        5: (2, abs(0.565 - 0.5)),
        9: (5, abs(0.96 - 0.8)),
    }
    hand_ece = sum(n / 10 * gap for n, gap in gaps.values())
    hand_mce = max(gap for _, gap in gaps.values())

    result = services.expected_calibration_error(confidences, outcomes)

    assert result["ece"] == pytest.approx(hand_ece)  # 0.005 + 0.07 + 0.013 + 0.08 = 0.168
    assert result["ece"] == pytest.approx(0.168)
    assert result["mce"] == pytest.approx(hand_mce)
    assert result["buckets"]["9"]["gap"] == pytest.approx(0.16)


@pytest.mark.django_db
def test_the_snapshot_aggregates_give_the_same_ece_as_the_raw_pairs(tenant, activate_scoring):
    activate_scoring()
    rng = np.random.default_rng(3)
    confidences = np.round(rng.uniform(0, 1, 400), 3)
    outcomes = (rng.uniform(0, 1, 400) < confidences * 0.6).tolist()
    made = make_decisions(tenant, [0.5] * 400, decided_at=DAY_AGO, outcomes=outcomes)
    for d, c in zip(made, confidences, strict=True):
        d.confidence = float(c)
    type(made[0]).objects.bulk_update(made, ["confidence"])

    snapshot = services.metrics_collect(tenant=tenant, actor=ACTOR, now=NOW)
    report = services.report_analyze(snapshot=snapshot, actor=ACTOR, now=NOW)

    expected = services.expected_calibration_error(confidences.tolist(), outcomes)
    finding = report.findings.get(kind=FindingKind.CONFIDENCE_ALIGNMENT)
    assert finding.numbers["ece"] == pytest.approx(expected["ece"])
    assert finding.numbers["mce"] == pytest.approx(expected["mce"])
    assert finding.numbers["direction"] == "overconfident"


@pytest.mark.django_db
def test_groups_under_k_are_suppressed(tenant, settings):
    settings.GOVLOOP_PRIVACY_K = 5
    scores = [0.105] * 5 + [0.205] * 4
    make_decisions(tenant, scores, decided_at=DAY_AGO, flags=[("rare",)] * 4 + [()] * 5)

    snapshot = services.metrics_collect(tenant=tenant, actor=ACTOR, now=NOW)

    hist = snapshot.metrics["score_histogram"]
    assert hist["counts"] == {"10": 5}
    assert hist["suppressed_buckets"] == 1
    assert snapshot.metrics["flag_frequencies"]["counts"] == {}
    assert snapshot.metrics["flag_frequencies"]["suppressed"] == ["rare"]


@pytest.mark.django_db
def test_collection_is_a_fixed_number_of_queries_whatever_the_decision_count(tenant):
    def queries_for(n, prefix):
        make_decisions(tenant, np.linspace(0, 1, n).tolist(), decided_at=DAY_AGO, prefix=prefix)
        with CaptureQueriesContext(connection) as context:
            snapshot = services.metrics_collect(tenant=tenant, actor=ACTOR, now=NOW)
        return len(context), snapshot.decision_count

    queries_for(5, "warm-up")  # the tenant's first ledger entry creates its chain head
    small = queries_for(20, "a")
    large = queries_for(2000, "b")

    assert large == (small[0], 2025)


@pytest.mark.django_db
def test_only_decisions_inside_the_window_are_counted(tenant, other_tenant):
    make_decisions(tenant, [0.5] * 6, decided_at=NOW - dt.timedelta(days=2), prefix="in")
    make_decisions(tenant, [0.5] * 7, decided_at=NOW - dt.timedelta(days=9), prefix="old")
    make_decisions(other_tenant, [0.5] * 8, decided_at=DAY_AGO, prefix="other")

    snapshot = services.metrics_collect(tenant=tenant, actor=ACTOR, window_days=7, now=NOW)

    assert snapshot.decision_count == 6
    assert snapshot.window_start == NOW - dt.timedelta(days=7)


@pytest.mark.django_db
def test_a_report_without_findings_proposes_nothing_and_says_so(tenant, activate_scoring):
    payload = one_feature_payload()
    activate_scoring(payload)
    # Evenly spread scores: no crowding, x_high fires (and escalates) on 10%, no outcomes.
    make_decisions(
        tenant, np.linspace(0.0, 0.999, 200).tolist(), payload=payload, decided_at=DAY_AGO
    )

    _, report, proposal = run_phases(tenant)

    assert report.findings.count() == 0
    assert proposal.status == ProposalStatus.NOTHING_TO_PROPOSE
    assert proposal.message == "the report has no findings: nothing to propose"
    assert proposal.proposed_version is None
    assert ConfigVersion.objects.filter(tenant=tenant).count() == 1


@pytest.mark.django_db
def test_a_flag_that_fires_too_often_is_tightened(tenant, activate_scoring):
    payload = one_feature_payload()
    activate_scoring(payload)
    scores = np.linspace(0.0, 0.85, 200).tolist()
    make_decisions(
        tenant, scores, payload=payload, decided_at=DAY_AGO, flags=[("x_high",)] * 120 + [()] * 80
    )

    _, report, proposal = run_phases(tenant)

    finding = report.findings.get(kind=FindingKind.FLAG_TRIGGERING)
    assert (finding.severity, finding.numbers["rate"]) == ("high", 0.6)
    (change,) = proposal.change_summary["changes"]
    assert (change["path"], change["old"], change["new"]) == ("flag_rules[0].value", 0.9, 0.95)
    assert change["impact"]["band_change_share"] == 0.0


@pytest.mark.django_db
def test_a_flag_that_never_fires_and_a_high_escalation_rate_are_reported_without_a_change(
    tenant, activate_scoring
):
    payload = one_feature_payload(
        flag_rules=[
            {"name": "x_high", "feature": "x", "operator": ">=", "value": 0.9},
            {"name": "x_zero", "feature": "x", "operator": "==", "value": 0},
        ],
        escalate_on=["x_high"],
    )
    activate_scoring(payload)
    make_decisions(
        tenant,
        np.linspace(0.0, 0.85, 100).tolist(),
        payload=payload,
        decided_at=DAY_AGO,
        flags=[("x_high",)] * 40 + [()] * 60,
    )

    _, report, proposal = run_phases(tenant)

    by_kind = {(f.kind, f.numbers.get("problem")): f for f in report.findings.all()}
    assert by_kind[(FindingKind.FLAG_TRIGGERING, "never_fires")].numbers["flag"] == "x_zero"
    assert by_kind[(FindingKind.ESCALATION_PATTERN, "high_rate")].severity == "high"
    unchanged = {u["kind"] for u in proposal.change_summary["findings_without_change"]}
    assert {"escalation_pattern", "flag_triggering"} <= unchanged


@pytest.mark.django_db
def test_proposing_twice_returns_the_first_proposal_and_a_pending_one_blocks_a_new_one(
    tenant, activate_scoring
):
    payload = one_feature_payload()
    activate_scoring(payload)
    make_decisions(tenant, crowded_scores(), payload=payload, decided_at=DAY_AGO)
    _, report, first = run_phases(tenant)

    again = services.proposal_generate(report=report, actor=ACTOR, now=NOW)
    _, _, second = run_phases(tenant)

    assert again.pk == first.pk
    assert second.status == ProposalStatus.NOTHING_TO_PROPOSE
    assert "v1.1.0 still awaits a decision" in second.message
    assert ConfigProposal.objects.filter(tenant=tenant).count() == 2
    assert ConfigVersion.objects.filter(tenant=tenant, source="calibration").count() == 1


@pytest.mark.django_db
def test_the_exports_hold_the_change_summary_and_the_proposed_payload(
    tenant, activate_scoring, tmp_path
):
    payload = one_feature_payload()
    activate_scoring(payload)
    make_decisions(tenant, crowded_scores(), payload=payload, decided_at=DAY_AGO)
    _, report, proposal = run_phases(tenant)

    paths = services.proposal_export(proposal=proposal, output_dir=tmp_path)
    report_path = services.report_export(report=report, output_dir=tmp_path)

    config = json.loads(paths[0].read_text())
    summary = json.loads(paths[1].read_text())
    assert config["payload"] == proposal.proposed_version.payload
    assert config["state"] == "PENDING_APPROVAL"
    assert summary["changes"][0]["finding"]["kind"] == "boundary_crowding"
    assert set(summary["changes"][0]["impact"]) == {
        "band_change_share",
        "decision_change_share",
        "decisions_counted",
    }
    assert json.loads(report_path.read_text())["findings"][0]["numbers"]
    assert paths[0].parent == tmp_path / tenant.slug


@pytest.mark.django_db
def test_the_scheduled_run_skips_a_tenant_collected_in_the_last_day(tenant, activate_scoring):
    activate_scoring()
    make_decisions(tenant, [0.2] * 10, decided_at=DAY_AGO)

    first = services.calibration_pipeline_scheduled(tenant_id=tenant.pk, now=NOW, output_dir=None)
    second = services.calibration_pipeline_scheduled(
        tenant_id=tenant.pk, now=NOW + dt.timedelta(hours=1)
    )

    assert first is not None and second is None
    assert MetricsSnapshot.objects.filter(tenant=tenant).count() == 1
    assert CalibrationReport.objects.filter(tenant=tenant).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_new_tenant_gets_its_weekly_pipeline_schedule():
    from django_celery_beat.models import PeriodicTask

    from tests.factories import TenantFactory

    tenant = TenantFactory(slug="newco")

    task = PeriodicTask.objects.get(name="calibration pipeline: newco")
    assert task.task == services.PIPELINE_TASK
    assert json.loads(task.kwargs) == {"tenant_id": tenant.pk}
    assert (task.crontab.day_of_week, task.crontab.hour) == ("1", "3")


@pytest.mark.django_db
def test_the_recent_timestamp_helpers_use_aware_datetimes(tenant):
    snapshot = services.metrics_collect(tenant=tenant, actor=ACTOR)
    assert timezone.is_aware(snapshot.created_at)
    assert snapshot.metrics["privacy"]["published"] is False


@pytest.mark.django_db
def test_overconfidence_widens_the_confidence_margin(tenant, activate_scoring):
    activate_scoring(one_feature_payload())
    # Every decision says confidence 0.95 and only half of them are right.
    made = make_decisions(tenant, [0.55] * 100, decided_at=DAY_AGO, outcomes=[True, False] * 50)
    type(made[0]).objects.filter(tenant=tenant).update(confidence=0.95)

    _, report, proposal = run_phases(tenant)

    finding = report.findings.get(kind=FindingKind.CONFIDENCE_ALIGNMENT)
    assert finding.numbers["ece"] == pytest.approx(0.45)
    assert finding.severity == "high"
    (change,) = proposal.change_summary["changes"]
    # factor = min(2 * ECE, 0.5) = 0.5: the margin grows from 0.1 to 0.15
    assert (change["path"], change["old"], change["new"]) == ("confidence_margin", 0.1, 0.15)
    assert change["impact"]["band_change_share"] == 0.0
