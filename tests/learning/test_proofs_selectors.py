"""Reads of the learning proofs: the seed's tracker questions, the timeline and its narrative,
and the graduation status."""

from __future__ import annotations

import datetime as dt

import pytest

from governance.services.ledger import Actor
from learning import selectors_proofs as selectors
from learning.models.proofs import LearnedPolicy, PreventionRecord
from learning.services import proofs as svc

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
MACHINE = Actor.system("worker")


def _active(tenant, reviewer, key):
    incident = svc.incident_record(
        tenant=tenant, pattern_key=key, signature=key, severity=5, actor=MACHINE, now=T0
    )
    policy = svc.policy_create_from_incident(incident=incident, name=key, actor=MACHINE, now=T0)
    return incident, svc.policy_activate(
        policy=policy, user=reviewer, reason="shadow results clean", now=T0
    )


def _prevent(policy, n=1, outcome="PREVENTED", blocked=None):
    for _ in range(n):
        svc.prevention_record(
            policy=policy,
            outcome=outcome,
            blocked_incident=blocked,
            signature_match_confidence=0.8,
            actor=MACHINE,
            now=T0 + dt.timedelta(hours=1),
        )


@pytest.mark.django_db
def test_a_new_tenant_is_at_zero_gates_with_the_first_next_action(tenant):
    status = selectors.graduation_status(tenant_id=tenant.pk)
    assert status.status_label == "LOOP-ENABLED (0/3 gates)"
    assert not status.is_graduated
    assert "gate 1" in status.next_action
    assert status.prevention_rate == 0.0
    assert selectors.system_regret_rate(tenant_id=tenant.pk) == 0.0
    assert selectors.get_top_preventing_patterns(tenant_id=tenant.pk) == []


@pytest.mark.django_db
def test_prevention_rate_and_top_patterns_come_from_the_records(tenant, reviewer):
    _, busy = _active(tenant, reviewer, "busy")
    _, quiet = _active(tenant, reviewer, "quiet")
    _prevent(busy, n=3)
    _prevent(quiet, n=1)
    recurrence = svc.incident_record(
        tenant=tenant, pattern_key="quiet", signature="q2", severity=5, actor=MACHINE, now=T0
    )
    _prevent(quiet, outcome="RECURRED", blocked=recurrence)
    assert selectors.prevention_rate(tenant_id=tenant.pk) == pytest.approx(4 / 5)
    assert selectors.has_proven_prevention(tenant_id=tenant.pk)
    assert selectors.get_top_preventing_patterns(tenant_id=tenant.pk) == [("busy", 3), ("quiet", 1)]
    assert selectors.prevention_counts(tenant_id=tenant.pk)["policies_with_prevention"] == 2


@pytest.mark.django_db
def test_a_recount_of_the_counters_agrees_with_the_records(tenant, reviewer):
    _, policy = _active(tenant, reviewer, "busy")
    _prevent(policy, n=2)
    LearnedPolicy.objects.filter(pk=policy.pk).update(prevention_count=0)
    assert svc.prevention_counters_rebuild(tenant_id=tenant.pk) == 1
    assert LearnedPolicy.objects.get(pk=policy.pk).prevention_count == 2
    assert PreventionRecord.objects.filter(policy=policy).count() == 2


@pytest.mark.django_db
def test_the_system_regret_rate_is_the_mean_decayed_score_of_policies_with_regret(tenant, reviewer):
    _, one = _active(tenant, reviewer, "one")
    _, two = _active(tenant, reviewer, "two")
    _active(tenant, reviewer, "calm")
    svc.regret_record(policy=one, regret_type="perf", severity=2, actor=MACHINE, now=T0)
    svc.regret_record(policy=two, regret_type="perf", severity=6, actor=MACHINE, now=T0)
    assert selectors.system_regret_rate(tenant_id=tenant.pk, now=T0) == pytest.approx(4.0)
    later = T0 + dt.timedelta(days=1)
    assert selectors.system_regret_rate(tenant_id=tenant.pk, now=later) == pytest.approx(3.6)
    assert not selectors.has_proven_rollback(tenant_id=tenant.pk)


@pytest.mark.django_db
def test_the_rollback_timeline_exists_only_for_a_demoted_policy(tenant, reviewer):
    _, policy = _active(tenant, reviewer, "one")
    assert selectors.rollback_timeline(policy=policy) is None
    for _ in range(3):
        svc.regret_record(policy=policy, regret_type="cascade", severity=1, actor=MACHINE, now=T0)
    entry = selectors.rollback_timeline(policy=LearnedPolicy.objects.get(pk=policy.pk))
    assert entry["type"] == "rollback" and entry["is_milestone"]
    assert entry["details"]["regret_events"] == 3


@pytest.mark.django_db
def test_the_narrative_tells_each_event_in_a_plain_sentence(tenant, reviewer):
    incident, policy = _active(tenant, reviewer, "checkout-timeout")
    _prevent(policy)
    record = PreventionRecord.objects.get()
    assert selectors.prevention_console_timeline(record=record)["details"]["confidence"] == "80%"
    console = selectors.prevention_timeline(incident=incident).to_console()
    narrative = console["narrative"]
    assert narrative.startswith(
        f"On 2026-03-01 09:00 UTC, incident #{incident.pk} of pattern checkout-timeout was "
        "recorded with severity 5."
    )
    assert "policy 'checkout-timeout' was born from it" in narrative
    assert (
        "the policy prevented a recurrence of the pattern (signature match 80%, WEAK)" in narrative
    )
    assert narrative.endswith("a policy born from failure prevented a recurrence.")
    assert console["summary"] == {
        "event_count": 3,
        "kinds": ["incident_created", "policy_born", "prevention"],
        "has_prevention": True,
        "has_rollback": False,
        "is_learning_proof": True,
    }


@pytest.mark.django_db
def test_an_incident_without_a_policy_is_not_a_learning_proof(tenant):
    incident = svc.incident_record(
        tenant=tenant, pattern_key="p", signature="s", severity=3, actor=MACHINE, now=T0
    )
    timeline = selectors.prevention_timeline(incident=incident)
    assert timeline.kinds == ["incident_created"]
    assert not timeline.is_learning_proof
    assert timeline.to_console()["narrative"].endswith("part of the feedback loop.")
