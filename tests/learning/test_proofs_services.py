"""Services of the learning proofs: regret, demotion, reinstatement, decay, preventions."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection

from calibration.models import PatternCalibration
from calibration.models.patterns import MIN_SAMPLES
from governance.errors import Forbidden, TransitionConflict, ValidationFailed
from governance.models import (
    Checkpoint,
    CheckpointConfig,
    CheckpointPriority,
    CheckpointState,
    LedgerEntry,
)
from governance.services.ledger import Actor
from learning.models.proofs import (
    LearnedPolicy,
    PolicyState,
    PreventionOutcome,
    RegretType,
    TimelineEvent,
)
from learning.services import proofs as svc

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
MACHINE = Actor.system("worker")


def _incident(tenant, key="checkout-timeout", now=T0, **kwargs):
    return svc.incident_record(
        tenant=tenant,
        pattern_key=key,
        signature=f"sig-{key}",
        severity=6,
        actor=MACHINE,
        now=now,
        **kwargs,
    )


@pytest.fixture
def active_policy(tenant, reviewer):
    def make(key="checkout-timeout", **settings):
        incident = _incident(tenant, key)
        policy = svc.policy_create_from_incident(
            incident=incident, name=f"guard {key}", actor=MACHINE, now=T0, **settings
        )
        return svc.policy_activate(
            policy=policy, user=reviewer, reason="shadow results clean", now=T0
        )

    return make


def _regret(policy, severity=4, now=T0, **kwargs):
    return svc.regret_record(
        policy=policy,
        regret_type=kwargs.pop("regret_type", RegretType.FALSE_POSITIVE),
        severity=severity,
        actor=kwargs.pop("actor", MACHINE),
        now=now,
        **kwargs,
    )


def _fresh(policy) -> LearnedPolicy:
    return LearnedPolicy.objects.get(pk=policy.pk)


# --- regret and automatic demotion ------------------------------------------------------------


@pytest.mark.django_db
def test_it_demotes_by_count_when_the_score_stays_low(active_policy):
    policy = active_policy()
    for _ in range(3):
        event = _regret(policy, severity=1)
    policy = _fresh(policy)
    assert policy.state == PolicyState.DEMOTED
    assert policy.regret_score == pytest.approx(3.0)
    assert "3 regret events since birth reached the auto-demote count 3" in policy.demoted_reason
    assert event.was_auto_rolled_back


@pytest.mark.django_db
def test_it_keeps_a_policy_active_below_both_thresholds(active_policy):
    policy = active_policy()
    _regret(policy, severity=4)
    _regret(policy, severity=5)
    policy = _fresh(policy)
    assert policy.state == PolicyState.ACTIVE
    assert policy.regret_score == pytest.approx(9.0)
    assert not Checkpoint.objects.filter(checkpoint_type="policy_demoted").exists()


@pytest.mark.django_db
def test_it_decays_the_existing_score_before_adding_new_regret(active_policy):
    policy = active_policy(decay_rate=0.1)
    _regret(policy, severity=8, now=T0)
    _regret(policy, severity=1, now=T0 + dt.timedelta(days=1))
    assert _fresh(policy).regret_score == pytest.approx(8 * 0.9 + 1, abs=1e-9)


@pytest.mark.django_db
def test_a_demoted_policy_takes_more_regret_without_a_second_demotion(active_policy):
    policy = active_policy()
    for _ in range(3):
        _regret(policy, severity=4)
    late = _regret(policy, severity=4)
    policy = _fresh(policy)
    assert policy.state == PolicyState.DEMOTED and policy.auto_demotions == 1
    assert not late.was_auto_rolled_back
    assert Checkpoint.objects.filter(checkpoint_type="policy_demoted").count() == 1


@pytest.mark.django_db
def test_a_repeated_event_id_is_stored_once(active_policy):
    policy = active_policy()
    first = _regret(policy, event_id="r-1")
    again = _regret(policy, event_id="r-1")
    assert first.pk == again.pk
    assert _fresh(policy).regret_count == 1


@pytest.mark.django_db
def test_a_full_checkpoint_queue_escalates_the_demotion_checkpoint_to_critical(
    tenant, active_policy
):
    CheckpointConfig.objects.update_or_create(tenant=tenant, defaults={"max_pending": 0})
    policy = active_policy()
    for _ in range(3):
        _regret(policy)
    assert _fresh(policy).state == PolicyState.DEMOTED
    checkpoint = Checkpoint.objects.get(checkpoint_type="policy_demoted")
    assert checkpoint.priority == CheckpointPriority.CRITICAL


@pytest.mark.django_db
def test_it_refuses_regret_out_of_range_and_stores_nothing(active_policy):
    policy = active_policy()
    with pytest.raises(ValidationFailed) as exc:
        _regret(policy, severity=11, regret_type="boredom", affected_calls=-1)
    assert set(exc.value.errors) == {"severity", "regret_type", "affected_calls"}
    assert _fresh(policy).regret_count == 0


# --- reinstatement, manual override, transitions ----------------------------------------------


@pytest.mark.django_db
def test_a_reinstated_policy_starts_a_fresh_regret_count(active_policy, reviewer):
    policy = active_policy()
    for _ in range(3):
        _regret(policy, severity=1)
    policy = svc.policy_reinstate(
        policy=_fresh(policy), user=reviewer, reason="false alarm upstream", now=T0
    )
    assert policy.state == PolicyState.ACTIVE
    assert (policy.regret_count, policy.regret_score) == (0, 0.0)
    _regret(policy, severity=1)
    _regret(policy, severity=1)
    policy = _fresh(policy)
    assert policy.state == PolicyState.ACTIVE
    assert policy.regret_count == 2 and policy.regret_total == 5
    assert policy.reinstated_by == reviewer
    entry = LedgerEntry.objects.filter(kind="learning.policy_reinstated").get()
    assert entry.actor == "user:rita"
    assert entry.payload["reason"] == "false alarm upstream"
    assert entry.payload["previous"]["regret_count"] == 3
    checkpoint = Checkpoint.objects.get(checkpoint_type="policy_demoted")
    assert checkpoint.state == CheckpointState.REJECTED


@pytest.mark.django_db
def test_a_manual_override_records_who_demoted_the_policy(active_policy, reviewer):
    policy = svc.policy_demote(
        policy=active_policy(), user=reviewer, reason="customer complaint", now=T0
    )
    assert policy.state == PolicyState.DEMOTED
    assert policy.demoted_by == reviewer and not policy.demoted_automatically
    entry = LedgerEntry.objects.filter(kind="learning.policy_demoted").get()
    assert (entry.actor, entry.payload["automatic"]) == ("user:rita", False)
    rollback = TimelineEvent.objects.get(kind="rollback")
    assert rollback.details["demoted_by"] == "user:rita"


@pytest.mark.django_db
def test_a_regret_recorded_by_a_reviewer_names_the_override(active_policy, reviewer):
    event = _regret(
        active_policy(),
        regret_type=RegretType.USER_OVERRIDE,
        actor=Actor.for_user(reviewer),
        manual_override_by=reviewer,
    )
    assert event.manual_override_by == reviewer
    entry = LedgerEntry.objects.filter(kind="learning.regret_recorded").get()
    assert entry.payload["manual_override_by"] == "rita"


@pytest.mark.django_db
def test_only_a_reviewer_reinstates(active_policy, viewer):
    policy = active_policy()
    for _ in range(3):
        _regret(policy)
    with pytest.raises(Forbidden):
        svc.policy_reinstate(policy=_fresh(policy), user=viewer, reason="please")
    assert _fresh(policy).state == PolicyState.DEMOTED


def _to_state(policy, state, reviewer):
    if state == PolicyState.SHADOW:
        return policy
    policy = svc.policy_activate(
        policy=policy, user=reviewer, reason="shadow results clean", now=T0
    )
    if state == PolicyState.DEMOTED:
        policy = svc.policy_demote(policy=policy, user=reviewer, reason="test", now=T0)
    if state == PolicyState.RETIRED:
        policy = svc.policy_retire(policy=policy, actor=MACHINE, reason="test", now=T0)
    return policy


ILLEGAL = [
    pytest.param(PolicyState.ACTIVE, "reinstate", id="reinstate-active"),
    pytest.param(PolicyState.SHADOW, "reinstate", id="reinstate-shadow"),
    pytest.param(PolicyState.DEMOTED, "activate", id="activate-demoted"),
    pytest.param(PolicyState.ACTIVE, "activate", id="activate-active"),
    pytest.param(PolicyState.SHADOW, "demote", id="demote-shadow"),
    pytest.param(PolicyState.RETIRED, "retire", id="retire-retired"),
    pytest.param(PolicyState.RETIRED, "reinstate", id="reinstate-retired"),
    pytest.param(PolicyState.SHADOW, "prevent", id="prevention-on-shadow"),
    pytest.param(PolicyState.DEMOTED, "prevent", id="prevention-on-demoted"),
    pytest.param(PolicyState.RETIRED, "regret", id="regret-on-retired"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("state", "action"), ILLEGAL)
def test_an_illegal_transition_is_a_conflict_naming_the_current_state(
    tenant, reviewer, state, action
):
    policy = svc.policy_create_from_incident(incident=_incident(tenant), name="p", actor=MACHINE)
    policy = _to_state(policy, state, reviewer)
    calls = {
        "reinstate": lambda: svc.policy_reinstate(policy=policy, user=reviewer, reason="r"),
        "activate": lambda: svc.policy_activate(
            policy=policy, user=reviewer, reason="shadow results clean"
        ),
        "demote": lambda: svc.policy_demote(policy=policy, user=reviewer, reason="r"),
        "retire": lambda: svc.policy_retire(policy=policy, actor=MACHINE, reason="r"),
        "prevent": lambda: svc.prevention_record(
            policy=policy, outcome="PREVENTED", signature_match_confidence=0.9, actor=MACHINE
        ),
        "regret": lambda: _regret(policy),
    }
    with pytest.raises(TransitionConflict) as exc:
        calls[action]()
    assert exc.value.current_state == state
    assert _fresh(policy).state == state


@pytest.mark.django_db
def test_retiring_accepts_the_pending_demotion_checkpoint(active_policy):
    policy = active_policy()
    for _ in range(3):
        _regret(policy)
    svc.policy_retire(policy=_fresh(policy), actor=MACHINE, reason="superseded", now=T0)
    assert (
        Checkpoint.objects.get(checkpoint_type="policy_demoted").state == CheckpointState.APPROVED
    )
    assert _fresh(policy).state == PolicyState.RETIRED


@pytest.mark.django_db
def test_a_pattern_has_one_live_policy(tenant):
    incident = _incident(tenant)
    svc.policy_create_from_incident(incident=incident, name="first", actor=MACHINE)
    with pytest.raises(svc.PolicyExists):
        svc.policy_create_from_incident(incident=incident, name="second", actor=MACHINE)


# --- preventions ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_recurrence_names_the_recurring_incident_and_counts_as_a_failure(tenant, active_policy):
    policy = active_policy()
    with pytest.raises(ValidationFailed) as exc:
        svc.prevention_record(
            policy=policy, outcome="RECURRED", signature_match_confidence=0.7, actor=MACHINE
        )
    assert "blocked_incident" in exc.value.errors
    again = _incident(tenant, now=T0 + dt.timedelta(days=1))
    record = svc.prevention_record(
        policy=policy,
        outcome=PreventionOutcome.RECURRED,
        blocked_incident=again,
        signature_match_confidence=0.7,
        actor=MACHINE,
    )
    policy = _fresh(policy)
    assert (policy.prevention_count, policy.recurrence_count) == (0, 1)
    assert record.match_band == "WEAK"


@pytest.mark.django_db
def test_it_refuses_a_blocked_incident_of_another_pattern(tenant, active_policy):
    policy = active_policy()
    other = _incident(tenant, key="login-storm")
    with pytest.raises(ValidationFailed) as exc:
        svc.prevention_record(
            policy=policy,
            outcome="RECURRED",
            blocked_incident=other,
            signature_match_confidence=0.7,
            actor=MACHINE,
        )
    assert exc.value.errors["blocked_incident"] == ["the incident is not of the policy's pattern"]


@pytest.mark.django_db
def test_the_match_band_follows_the_patterns_adaptive_confidence(tenant, active_policy):
    policy = active_policy()
    PatternCalibration.objects.create(
        tenant=tenant,
        pattern="checkout-timeout",
        total_matches=MIN_SAMPLES,
        correct_matches=MIN_SAMPLES,
        calibrated_samples=MIN_SAMPLES,
        empirical_strong_threshold=0.95,
        empirical_weak_threshold=0.5,
    )
    record = svc.prevention_record(
        policy=policy, outcome="PREVENTED", signature_match_confidence=0.92, actor=MACHINE
    )
    assert record.match_band == "WEAK"


# --- decay ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_decay_over_two_and_a_half_days_at_ten_percent(active_policy):
    policy = active_policy(decay_rate=0.1)
    _regret(policy, severity=7, now=T0)
    decayed = svc.regret_decay_all(now=T0 + dt.timedelta(days=2.5))
    assert decayed == 1
    policy = _fresh(policy)
    assert abs(policy.regret_score - 7 * 0.9**2.5) < 1e-9
    assert policy.last_decayed_at == T0 + dt.timedelta(days=2.5)
    entry = LedgerEntry.objects.filter(kind="learning.regret_decayed").get()
    assert entry.payload["policies"] == 1


@pytest.mark.django_db
def test_a_second_decay_at_the_same_instant_changes_nothing(active_policy):
    policy = active_policy(decay_rate=0.1)
    _regret(policy, severity=7, now=T0)
    later = T0 + dt.timedelta(days=2.5)
    svc.regret_decay_all(now=later)
    score = _fresh(policy).regret_score
    assert svc.regret_decay_all(now=later) == 0
    assert _fresh(policy).regret_score == score
    assert LedgerEntry.objects.filter(kind="learning.regret_decayed").count() == 1


@pytest.mark.django_db
def test_decay_in_two_steps_equals_decay_in_one(active_policy):
    one, two = active_policy("a"), active_policy("b")
    _regret(one, severity=9, now=T0)
    _regret(two, severity=9, now=T0)
    svc.regret_decay_all(now=T0 + dt.timedelta(days=1))
    LearnedPolicy.objects.filter(pk=one.pk).update(last_decayed_at=T0)
    LearnedPolicy.objects.filter(pk=one.pk).update(regret_score=9.0)
    svc.regret_decay_all(now=T0 + dt.timedelta(days=3))
    assert _fresh(one).regret_score == pytest.approx(_fresh(two).regret_score, abs=1e-9)


@pytest.mark.django_db
def test_decay_leaves_policies_without_regret_or_without_a_rate_alone(active_policy):
    calm = active_policy("calm")
    frozen = active_policy("frozen", decay_rate=0.0)
    _regret(frozen, severity=5, now=T0)
    assert svc.regret_decay_all(now=T0 + dt.timedelta(days=3)) == 0
    assert _fresh(frozen).regret_score == 5.0
    assert _fresh(calm).last_decayed_at == T0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_decay_runs_do_not_decay_twice(tenant, reviewer):
    incident = _incident(tenant)
    policy = svc.policy_create_from_incident(incident=incident, name="p", actor=MACHINE, now=T0)
    policy = svc.policy_activate(
        policy=policy, user=reviewer, reason="shadow results clean", now=T0
    )
    _regret(policy, severity=7, now=T0)
    later = T0 + dt.timedelta(days=2.5)
    barrier = threading.Barrier(4)
    results: list[int] = []
    errors: list[BaseException] = []

    def run():
        try:
            barrier.wait()
            results.append(svc.regret_decay_all(now=later))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(results) == [0, 0, 0, 1]
    assert abs(_fresh(policy).regret_score - 7 * 0.9**2.5) < 1e-9
    assert LedgerEntry.objects.filter(kind="learning.regret_decayed").count() == 1


def _run_in_threads(n: int, fn) -> list[BaseException]:
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def run(i: int):
        try:
            barrier.wait()
            fn(i)
        except BaseException as exc:  # pragma: no cover - reported by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_regret_demotes_a_policy_exactly_once(tenant, reviewer):
    incident = _incident(tenant)
    policy = svc.policy_create_from_incident(incident=incident, name="p", actor=MACHINE, now=T0)
    policy = svc.policy_activate(
        policy=policy, user=reviewer, reason="shadow results clean", now=T0
    )
    errors = _run_in_threads(6, lambda i: _regret(policy, severity=4, now=T0))
    assert not errors
    policy = _fresh(policy)
    assert policy.state == PolicyState.DEMOTED
    assert (policy.regret_total, policy.auto_demotions) == (6, 1)
    assert policy.regret_events.filter(was_auto_rolled_back=True).count() == 1
    assert Checkpoint.objects.filter(checkpoint_type="policy_demoted").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_deliveries_of_one_event_id_store_one_regret(tenant, reviewer):
    incident = _incident(tenant)
    policy = svc.policy_create_from_incident(incident=incident, name="p", actor=MACHINE, now=T0)
    policy = svc.policy_activate(
        policy=policy, user=reviewer, reason="shadow results clean", now=T0
    )
    errors = _run_in_threads(4, lambda i: _regret(policy, severity=2, now=T0, event_id="dup"))
    assert not errors
    policy = _fresh(policy)
    assert (policy.regret_total, policy.regret_score) == (1, 2.0)
    assert LedgerEntry.objects.filter(kind="learning.regret_recorded").count() == 1
