"""The seed's story, end to end, through the services: incident -> policy born -> prevention
-> three severity-4 regrets -> automatic demotion -> gates 1 and 2 -> a timeline with all five
kinds -> gate 3 -> graduated. Every step leaves its ledger entry."""

from __future__ import annotations

import datetime as dt

import pytest

from governance.models import Checkpoint, CheckpointPriority, CheckpointState, LedgerEntry
from governance.services.ledger import Actor, ledger_anchor_head, ledger_verify
from learning.models.proofs import PolicyState, PreventionOutcome, RegretType, TimelineKind
from learning.selectors_proofs import graduation_status, prevention_timeline
from learning.services import proofs as svc

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def _kinds(tenant) -> list[str]:
    return list(
        LedgerEntry.objects.filter(tenant=tenant).order_by("seq").values_list("kind", flat=True)
    )


@pytest.mark.django_db
def test_the_seed_story_graduates_the_tenant_with_every_step_on_the_ledger(tenant, reviewer):
    machine = Actor.system("worker")

    incident = svc.incident_record(
        tenant=tenant,
        pattern_key="checkout-timeout",
        signature="sig-a",
        severity=7,
        title="Checkout timed out",
        actor=machine,
        now=T0,
    )
    assert _kinds(tenant)[-1] == "learning.incident_recorded"

    policy = svc.policy_create_from_incident(
        incident=incident,
        name="block slow checkout retries",
        actor=machine,
        now=T0 + dt.timedelta(minutes=5),
    )
    assert policy.state == PolicyState.SHADOW
    assert _kinds(tenant)[-1] == "learning.policy_born"

    policy = svc.policy_activate(
        policy=policy, user=reviewer, reason="shadow run was clean", now=T0 + dt.timedelta(hours=1)
    )
    assert _kinds(tenant)[-1] == "learning.policy_activated"

    record = svc.prevention_record(
        policy=policy,
        outcome=PreventionOutcome.PREVENTED,
        signature_match_confidence=0.92,
        blocked_signature="sig-b",
        calls_evaluated=140,
        actor=machine,
        now=T0 + dt.timedelta(days=1),
    )
    assert record.match_band == "STRONG"
    assert record.time_since_policy == dt.timedelta(days=1, minutes=-5)
    assert _kinds(tenant)[-1] == "learning.prevention_recorded"

    status = graduation_status(tenant_id=tenant.pk, now=T0 + dt.timedelta(days=1))
    assert (status.gate1_passed, status.gate2_passed, status.gate3_passed) == (True, False, False)

    regret_at = T0 + dt.timedelta(days=2)
    events = [
        svc.regret_record(
            policy=policy,
            regret_type=RegretType.FALSE_POSITIVE,
            severity=4,
            description="blocked a legitimate checkout",
            affected_calls=12,
            affected_users=3,
            impact_duration=dt.timedelta(minutes=20),
            actor=machine,
            now=regret_at,
        )
        for _ in range(3)
    ]
    assert [e.policy.state for e in events] == [
        PolicyState.ACTIVE,
        PolicyState.ACTIVE,
        PolicyState.DEMOTED,
    ]
    assert [e.was_auto_rolled_back for e in events] == [False, False, True]
    policy.refresh_from_db()
    assert policy.state == PolicyState.DEMOTED
    assert policy.regret_score == pytest.approx(12.0)
    assert policy.demoted_automatically and policy.auto_demotions == 1
    assert "regret score 12.0 reached the auto-demote score 10" in policy.demoted_reason
    assert _kinds(tenant)[-5:] == [
        "learning.regret_recorded",
        "learning.regret_recorded",
        "learning.regret_recorded",
        "learning.policy_demoted",
        "checkpoint.opened",
    ]
    checkpoint = Checkpoint.objects.get(tenant=tenant, checkpoint_type="policy_demoted")
    assert checkpoint.priority == CheckpointPriority.HIGH
    assert checkpoint.state == CheckpointState.PENDING
    assert checkpoint.subject_id == str(policy.pk)

    status = graduation_status(tenant_id=tenant.pk, now=regret_at)
    assert (status.gate1_passed, status.gate2_passed, status.gate3_passed) == (True, True, False)
    assert status.status_label == "LOOP-ENABLED (2/3 gates)"
    assert "gate 3" in status.next_action

    timeline = prevention_timeline(incident=incident)
    assert set(timeline.kinds) == set(TimelineKind.values)
    assert timeline.kinds == [
        "incident_created",
        "policy_born",
        "prevention",
        "regret",
        "regret",
        "regret",
        "rollback",
    ]
    console = timeline.to_console()
    assert console["summary"]["is_learning_proof"] and console["summary"]["has_rollback"]
    assert "the policy prevented a recurrence" in console["narrative"]
    assert "full learning loop" in console["narrative"]

    svc.timeline_record_console_proof(incident=incident, user=reviewer, now=regret_at)
    assert _kinds(tenant)[-1] == "learning.console_proof_recorded"

    status = graduation_status(tenant_id=tenant.pk, now=regret_at)
    assert status.gate3_passed and status.is_graduated
    assert status.status_label == "LOOP-PROVEN"
    dashboard = status.to_dashboard()
    assert dashboard["gates"]["gate1_prevention"]["evidence"]["total_preventions"] == 1
    assert dashboard["gates"]["gate2_rollback"]["evidence"]["total_auto_demotions"] == 1
    assert dashboard["gates"]["gate3_console"]["evidence"]["incident_ids"] == [incident.pk]
    # Tests do not run on-commit callbacks: anchor the head as the commit would.
    ledger_anchor_head(tenant_id=tenant.pk)
    assert ledger_verify(tenant_id=tenant.pk).ok
