"""Guarded rollout of an approved version and scheduled activation (issue 18): a simulated
governed system scores cases through the runtime path (which follows the split), records
its decisions with the version that produced them, and reports outcomes."""

from __future__ import annotations

import datetime as dt

import pytest

from calibration.selectors import runtime_score
from calibration.services.pipeline import decisions_record
from governance.errors import Forbidden, TransitionConflict, ValidationFailed
from governance.models import Checkpoint, ConfigVersion, LedgerEntry, RolloutState, VersionState
from governance.services.ledger import Actor
from governance.services.rollouts import (
    in_candidate_cohort,
    rollout_abort,
    rollout_analyze,
    rollout_cancel,
    rollout_create,
    rollout_for_runtime,
    rollout_pause,
    rollout_resume,
    rollout_start,
    rollouts_start_due,
)
from governance.services.versions import version_deprecate
from tests.factories.rollouts import T0, Outcomes, make_plan, make_versions
from tripwire.services.regression import kpi_ingest

pytestmark = pytest.mark.django_db


@pytest.fixture
def versions(tenant, reviewer):
    return make_versions(tenant=tenant, reviewer=reviewer)


class System:
    """A governed system: each case is scored through the runtime path with its client id,
    and its decision (naming the version used) and outcome are recorded."""

    def __init__(self, tenant, *, baseline_rate: float, candidate_rate: float):
        self.tenant = tenant
        self.count = 0
        self.outcomes = Outcomes(baseline=baseline_rate, candidate=candidate_rate)
        self.assignments: dict[str, str] = {}

    def serve(self, n: int, at: dt.datetime) -> None:
        split = rollout_for_runtime(tenant_id=self.tenant.pk, family="scoring")
        rows = []
        for i in range(n):
            client_id = f"case-{self.count:06d}"
            self.count += 1
            candidate = split is not None and in_candidate_cohort(
                rollout_id=split["pk"], client_id=client_id, percent=split["percent"]
            )
            version = "1.1.0" if candidate else "1.0.0"
            if i < 25:
                # The runtime endpoint's path follows the same split and names the version.
                served = runtime_score(
                    tenant_id=self.tenant.pk, features={"risk_signal": 0.5}, client_id=client_id
                )
                assert served["version"]["version"] == version
            self.assignments[client_id] = version
            rows.append(
                {
                    "client_id": client_id,
                    "score": 0.5,
                    "band": "MEDIUM",
                    "confidence": 1.0,
                    "config_version": version,
                    "decided_at": at,
                    "was_correct": self.outcomes.next("candidate" if candidate else "baseline"),
                }
            )
        decisions_record(tenant=self.tenant, rows=rows, now=at)


def test_a_candidate_ten_points_worse_is_aborted_in_the_first_stage(tenant, reviewer, versions):
    current, candidate = versions
    rollout = rollout_start(rollout=make_plan(candidate), user=reviewer, reason="canary", now=T0)
    system = System(tenant, baseline_rate=0.8, candidate_rate=0.7)

    outcome = None
    for tick in range(1, 9):
        at = T0 + dt.timedelta(minutes=5 * tick)
        system.serve(1000, at)
        outcome = rollout_analyze(rollout=rollout, now=at)
        if outcome["decision"] == "abort":
            break

    rollout.refresh_from_db()
    assert outcome["decision"] == "abort" and outcome["stage"] == 0
    assert rollout.state == RolloutState.ABORTED and rollout.percent == 0
    checkpoint = Checkpoint.objects.get(tenant=tenant, checkpoint_type="rollout_aborted")
    assert checkpoint.blocking and checkpoint.priority == 0  # CRITICAL
    entry = LedgerEntry.objects.get(tenant=tenant, kind="rollout.aborted")
    assert entry.payload["analysis"]["guards"][0]["verdict"] == "fail"
    served = runtime_score(
        tenant_id=tenant.pk, features={"risk_signal": 0.5}, client_id="case-000001"
    )
    assert served["version"]["version"] == "1.0.0" and "rollout" not in served
    assert ConfigVersion.objects.get(pk=current.pk).state == VersionState.ACTIVE
    assert ConfigVersion.objects.get(pk=candidate.pk).state == VersionState.APPROVED


def test_an_equal_candidate_advances_through_every_stage_to_active(tenant, reviewer, versions):
    current, candidate = versions
    rollout = rollout_start(rollout=make_plan(candidate), user=reviewer, reason="canary", now=T0)
    system = System(tenant, baseline_rate=0.8, candidate_rate=0.8)
    exposure, exposed = [], set()

    at = T0
    for _ in range(12):
        at += dt.timedelta(minutes=11)
        system.serve(2000, at)
        # Every case is scored again: one never flips back once on the candidate.
        for client_id, version in list(system.assignments.items())[:100]:
            again = runtime_score(tenant_id=tenant.pk, features={}, client_id=client_id)
            if version == "1.1.0":
                exposed.add(client_id)
            if client_id in exposed:
                assert again["version"]["version"] == "1.1.0"
        rollout_analyze(rollout=rollout, now=at)
        rollout.refresh_from_db()
        exposure.append(rollout.percent)
        if rollout.state != RolloutState.RUNNING:
            break

    assert rollout.state == RolloutState.COMPLETED
    assert exposure == sorted(exposure) and exposure[-1] == 100
    assert [e["event"] for e in rollout.history if e["event"] != "inconclusive"] == [
        "started",
        "advanced",
        "advanced",
        "completed",
    ]
    assert ConfigVersion.objects.get(pk=candidate.pk).state == VersionState.ACTIVE
    assert ConfigVersion.objects.get(pk=current.pk).state == VersionState.SUPERSEDED
    kinds = list(LedgerEntry.objects.filter(tenant=tenant).values_list("kind", flat=True))
    assert kinds.count("rollout.advanced") == 2
    assert "rollout.completed" in kinds and "version.activated" in kinds


def test_assignment_is_stable_within_a_stage_and_exposure_only_grows():
    ids = [f"c{i}" for i in range(5000)]
    previous: set[str] = set()
    for percent in (5, 25, 50, 100):
        cohort = {c for c in ids if in_candidate_cohort(rollout_id=7, client_id=c, percent=percent)}
        again = {c for c in ids if in_candidate_cohort(rollout_id=7, client_id=c, percent=percent)}
        assert cohort == again
        assert previous <= cohort
        assert abs(len(cohort) / len(ids) - percent / 100) < 0.02
        previous = cohort


def test_a_stage_waits_for_its_minimum_duration_and_counts(tenant, reviewer, versions):
    _, candidate = versions
    rollout = rollout_start(rollout=make_plan(candidate), user=reviewer, reason="canary", now=T0)
    System(tenant, baseline_rate=0.8, candidate_rate=0.8).serve(2000, T0 + dt.timedelta(minutes=1))

    outcome = rollout_analyze(rollout=rollout, now=T0 + dt.timedelta(minutes=2))

    assert outcome["decision"] == "wait" and not outcome["ready"]
    rollout.refresh_from_db()
    assert rollout.stage_index == 0 and rollout.percent == 5


def test_starting_a_plan_is_a_reviewers_act(tenant, versions, viewer):
    _, candidate = versions
    plan = make_plan(candidate)

    with pytest.raises(Forbidden):
        rollout_start(rollout=plan, user=viewer, reason="go", now=T0)


def test_a_plan_needs_an_approved_candidate_and_a_last_stage_at_100(versions):
    current, candidate = versions
    with pytest.raises(TransitionConflict):
        make_plan(current)
    with pytest.raises(ValidationFailed):
        make_plan(candidate, stages=[{"percent": 5}, {"percent": 50}])


def test_a_reviewer_pauses_resumes_and_aborts_with_a_reason(tenant, reviewer, versions):
    _, candidate = versions
    rollout = rollout_start(rollout=make_plan(candidate), user=reviewer, reason="canary", now=T0)

    paused = rollout_pause(rollout=rollout, user=reviewer, reason="holiday traffic", now=T0)
    assert paused.state == RolloutState.PAUSED and paused.percent == 5
    assert rollout_analyze(rollout=rollout, now=T0 + dt.timedelta(hours=1)) is None
    resumed = rollout_resume(rollout=paused, user=reviewer, reason="back to normal", now=T0)
    assert resumed.state == RolloutState.RUNNING
    aborted = rollout_abort(rollout=resumed, user=reviewer, reason="changed my mind", now=T0)
    assert aborted.state == RolloutState.ABORTED and aborted.percent == 0
    kinds = set(LedgerEntry.objects.filter(tenant=tenant).values_list("kind", flat=True))
    assert {"rollout.paused", "rollout.resumed", "rollout.aborted"} <= kinds


def test_a_scheduled_activation_starts_at_its_time(tenant, reviewer, versions):
    current, candidate = versions
    plan = make_plan(candidate, stages=[{"percent": 100}])
    at = T0 + dt.timedelta(hours=2)
    scheduled = rollout_start(rollout=plan, user=reviewer, reason="tonight", start_at=at, now=T0)
    assert scheduled.state == RolloutState.SCHEDULED

    assert rollouts_start_due(now=at - dt.timedelta(minutes=1)) == 0
    assert ConfigVersion.objects.get(pk=candidate.pk).state == VersionState.APPROVED
    assert rollouts_start_due(now=at) == 1
    assert rollouts_start_due(now=at) == 0

    scheduled.refresh_from_db()
    assert scheduled.state == RolloutState.COMPLETED
    assert ConfigVersion.objects.get(pk=candidate.pk).state == VersionState.ACTIVE
    assert ConfigVersion.objects.get(pk=current.pk).state == VersionState.SUPERSEDED
    kinds = list(LedgerEntry.objects.filter(tenant=tenant).values_list("kind", flat=True))
    assert kinds.index("rollout.scheduled") < kinds.index("rollout.started")


def test_a_cancelled_scheduled_activation_never_starts(tenant, reviewer, versions):
    _, candidate = versions
    plan = make_plan(candidate, stages=[{"percent": 100}])
    at = T0 + dt.timedelta(hours=2)
    scheduled = rollout_start(rollout=plan, user=reviewer, reason="tonight", start_at=at, now=T0)

    cancelled = rollout_cancel(rollout=scheduled, user=reviewer, reason="not tonight", now=T0)

    assert cancelled.state == RolloutState.CANCELLED
    assert rollouts_start_due(now=at + dt.timedelta(days=1)) == 0
    assert ConfigVersion.objects.get(pk=candidate.pk).state == VersionState.APPROVED
    assert LedgerEntry.objects.filter(tenant=tenant, kind="rollout.cancelled").count() == 1


def test_the_rollout_page_shows_exposure_guards_and_history_from_the_control_room(
    client, tenant, reviewer, versions
):
    _, candidate = versions
    rollout = rollout_start(rollout=make_plan(candidate), user=reviewer, reason="canary", now=T0)
    system = System(tenant, baseline_rate=0.8, candidate_rate=0.6)
    for tick in range(1, 6):
        at = T0 + dt.timedelta(minutes=5 * tick)
        system.serve(1000, at)
        if rollout_analyze(rollout=rollout, now=at)["decision"] == "abort":
            break
    client.force_login(reviewer)

    home = client.get("/admin/")
    page = client.get(f"/admin/govloop/rollouts/{rollout.pk}/")

    assert f"/admin/govloop/rollouts/{rollout.pk}/".encode() in home.content
    assert page.status_code == 200
    assert b"<svg" in page.content and b"exposure" in page.content
    assert b"fail" in page.content and b"fires below" in page.content
    assert b"aborted" in page.content
    decide = client.get(f"/admin/govloop/versions/{candidate.pk}/decide/")
    assert b"Guarded rollout plan" in decide.content


def _kpi_plan(candidate, guard):
    return rollout_create(
        version=candidate,
        stages=[{"percent": 50, "min_duration_seconds": 0, "min_decisions": 0}, {"percent": 100}],
        guards=[guard],
        actor=Actor.system("pipeline"),
        now=T0,
    )


@pytest.mark.parametrize(
    ("guard", "baseline_events", "candidate_events"),
    [
        pytest.param(
            {
                "metric": "kpi_value",
                "domain": "shop",
                "kpi": "basket",
                "max_relative_regression": 0.05,
            },
            [{"value": 100.0 + i % 7} for i in range(60)],
            [{"value": 80.0 + i % 7} for i in range(60)],
            id="values-mann-whitney",
        ),
        pytest.param(
            {
                "metric": "kpi_rate",
                "domain": "shop",
                "kpi": "paid",
                "max_relative_regression": 0.05,
            },
            [{"success": i % 10 < 9} for i in range(300)],
            [{"success": i % 10 < 6} for i in range(300)],
            id="rates-two-proportion",
        ),
    ],
)
def test_a_kpi_guard_aborts_a_candidate_whose_kpi_regresses(
    tenant, reviewer, versions, guard, baseline_events, candidate_events
):
    current, candidate = versions
    rollout = rollout_start(
        rollout=_kpi_plan(candidate, guard), user=reviewer, reason="canary", now=T0
    )
    at = T0 + dt.timedelta(minutes=5)
    events = [
        {**event, "domain": "shop", "metric": guard["kpi"], "config_version_id": version.pk}
        for version, side in ((current, baseline_events), (candidate, candidate_events))
        for event in side
    ]
    kpi_ingest(tenant=tenant, items=[{**e, "created_at": at} for e in events], now=at)

    outcome = rollout_analyze(rollout=rollout, now=at + dt.timedelta(minutes=1))

    assert outcome["decision"] == "abort", outcome
    assert outcome["guards"][0]["test"] == guard_test(guard)
    assert outcome["guards"][0]["verdict"] == "fail"


def guard_test(guard):
    return {"kpi_value": "mann_whitney_u", "kpi_rate": "two_proportion_z"}[guard["metric"]]


def test_a_kpi_event_may_not_name_another_tenants_version(tenant, other_tenant, versions):
    _, candidate = versions

    with pytest.raises(ValidationFailed):
        kpi_ingest(
            tenant=other_tenant,
            items=[
                {
                    "domain": "shop",
                    "metric": "paid",
                    "success": True,
                    "config_version_id": candidate.pk,
                }
            ],
        )


def test_a_rollout_whose_baseline_was_replaced_meanwhile_aborts(tenant, reviewer, versions):
    current, candidate = versions
    rollout = rollout_start(rollout=make_plan(candidate), user=reviewer, reason="canary", now=T0)
    version_deprecate(version=current, user=reviewer, reason="pulled", now=T0)

    outcome = rollout_analyze(rollout=rollout, now=T0 + dt.timedelta(minutes=1))

    assert outcome["decision"] == "abort" and "no longer ACTIVE" in outcome["reason"]
    assert ConfigVersion.objects.get(pk=candidate.pk).state == VersionState.APPROVED
