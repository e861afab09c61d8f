"""Use cases of the learning proofs (seed 000). Each writes its ledger entry and its timeline
rows in the same transaction as the state change.

Where the seed's methods live:
    PreventionRecord.create_prevention, PreventionTracker.record_prevention  -> prevention_record
    PreventionTracker.record_failure            -> prevention_record(outcome=RECURRED)
    GlobalRegretTracker.record_regret, PolicyRegretTracker.add_regret -> regret_record
    GlobalRegretTracker.get_or_create_tracker   -> the LearnedPolicy row (its regret columns)
    PolicyRegretTracker._trigger_demotion       -> _policy_trigger_demotion (same transaction)
    PolicyRegretTracker.decay_regret            -> regret_decay_all (one set-based UPDATE)
    PreventionTimeline.add_incident_created / add_policy_born / add_prevention / add_regret /
    add_rollback                                -> _timeline_add_* (rows in TimelineEvent)
    M25GraduationStatus.console_proof_incidents -> timeline_record_console_proof
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Value
from django.utils import timezone

from calibration.selectors import pattern_band
from governance.errors import DomainError, TransitionConflict, ValidationFailed
from governance.kernel.authority import require_human, require_reason
from governance.kernel.kinds import LedgerKind
from governance.kernel.transitions import govern_transition
from governance.models import CheckpointPriority, CheckpointType, Tenant
from governance.services.checkpoints import (
    CheckpointQueueFull,
    checkpoint_open,
)
from governance.services.ledger import Actor, ledger_append
from learning.models.proofs import (
    DEFAULT_AUTO_DEMOTE_COUNT,
    DEFAULT_AUTO_DEMOTE_SCORE,
    DEFAULT_DECAY_RATE,
    ConsoleProof,
    Incident,
    LearnedPolicy,
    Pattern,
    PolicyState,
    PreventionOutcome,
    PreventionRecord,
    RegretEvent,
    RegretType,
    TimelineEvent,
    TimelineKind,
    decayed_score,
    decayed_score_expression,
)
from learning.selectors_proofs import prevention_timeline

# Scores below this are not worth a write on every decay pass; a later regret event still
# decays them exactly from their own last_decayed_at.
NEGLIGIBLE_REGRET = 1e-3


class PolicyExists(DomainError):
    status_code = 409
    code = "policy_exists"


# --- helpers ----------------------------------------------------------------------------------


def _lock(policy: LearnedPolicy) -> LearnedPolicy:
    return (
        LearnedPolicy.objects.select_for_update()
        .select_related("pattern", "source_incident")
        .get(pk=policy.pk)
    )


def _create_once(model, *, tenant_id: int, event_id: str | None, **fields):
    """Create the row; with an ``event_id`` that a concurrent request stored first, return that
    row instead (the unique constraint decides, inside a savepoint). ``(row, created)``."""
    if not event_id:
        return model.objects.create(tenant_id=tenant_id, **fields), True
    try:
        with transaction.atomic():
            return model.objects.create(tenant_id=tenant_id, event_id=event_id, **fields), True
    except IntegrityError:
        existing = model.objects.filter(tenant_id=tenant_id, event_id=event_id).first()
        if existing is None:
            raise
        return existing, False


def _aware(now: dt.datetime | None) -> dt.datetime:
    now = now or timezone.now()
    if timezone.is_naive(now):
        raise ValueError("services take aware UTC datetimes only")
    return now


# --- timeline rows (the seed's PreventionTimeline.add_*) ----------------------------------------


def _timeline_add(
    *,
    incident: Incident,
    kind: str,
    occurred_at: dt.datetime,
    headline: str,
    description: str = "",
    details: dict[str, Any],
    is_milestone: bool = False,
    policy: LearnedPolicy | None = None,
) -> TimelineEvent:
    return TimelineEvent.objects.create(
        tenant_id=incident.tenant_id,
        incident=incident,
        kind=kind,
        occurred_at=occurred_at,
        headline=headline,
        description=description[:500],
        details=details,
        is_milestone=is_milestone,
        policy=policy,
    )


def _timeline_add_incident_created(*, incident: Incident) -> TimelineEvent:
    return _timeline_add(
        incident=incident,
        kind=TimelineKind.INCIDENT_CREATED,
        occurred_at=incident.occurred_at,
        headline="Incident detected",
        description=incident.title,
        details={
            "incident_id": incident.pk,
            "pattern": incident.pattern.key,
            "signature": incident.signature,
            "severity": incident.severity,
            "title": incident.title,
        },
    )


def _timeline_add_policy_born(*, policy: LearnedPolicy) -> TimelineEvent:
    return _timeline_add(
        incident=policy.source_incident,
        kind=TimelineKind.POLICY_BORN,
        occurred_at=policy.born_at,
        headline="Policy born from failure",
        description=f"Policy '{policy.name}' created to prevent recurrence",
        details={"policy_id": policy.pk, "policy_name": policy.name},
        policy=policy,
    )


def _timeline_add_prevention(*, record: PreventionRecord, policy: LearnedPolicy) -> TimelineEvent:
    prevented = record.outcome == PreventionOutcome.PREVENTED
    return _timeline_add(
        incident=record.original_incident,
        kind=TimelineKind.PREVENTION,
        occurred_at=record.created_at,
        headline="Recurrence prevented" if prevented else "Recurrence not prevented",
        description=(
            "Same pattern detected, blocked by the policy"
            if prevented
            else "Same pattern recurred although the policy was active"
        ),
        details={
            "prevention_id": record.pk,
            "policy_id": policy.pk,
            "policy_name": policy.name,
            "outcome": record.outcome,
            "blocked_incident_id": record.blocked_incident_id,
            "confidence": record.signature_match_confidence,
            "band": record.match_band,
            "policy_age_seconds": record.time_since_policy.total_seconds(),
            "calls_evaluated": record.calls_evaluated,
        },
        is_milestone=prevented,
        policy=policy,
    )


def _timeline_add_regret(*, event: RegretEvent, policy: LearnedPolicy) -> TimelineEvent:
    return _timeline_add(
        incident=policy.source_incident,
        kind=TimelineKind.REGRET,
        occurred_at=event.created_at,
        headline="Policy caused harm (regret)",
        description=event.description,
        details={
            "regret_id": event.pk,
            "policy_id": policy.pk,
            "policy_name": policy.name,
            "regret_type": event.regret_type,
            "severity": event.severity,
            "regret_score": round(event.score_after, 6),
        },
        policy=policy,
    )


def _timeline_add_rollback(
    *, policy: LearnedPolicy, now: dt.datetime, demoted_by: str = ""
) -> TimelineEvent:
    return _timeline_add(
        incident=policy.source_incident,
        kind=TimelineKind.ROLLBACK,
        occurred_at=now,
        headline="Policy auto-demoted" if policy.demoted_automatically else "Policy demoted",
        description=policy.demoted_reason,
        details={
            "policy_id": policy.pk,
            "policy_name": policy.name,
            "automatic": policy.demoted_automatically,
            "reason": policy.demoted_reason,
            "regret_score": round(policy.regret_score, 6),
            "regret_count": policy.regret_count,
            "demoted_by": demoted_by,
        },
        is_milestone=policy.demoted_automatically,
        policy=policy,
    )


# --- incidents and policies -----------------------------------------------------------------


def _pattern_for(*, tenant: Tenant, key: str, name: str = "", now: dt.datetime) -> Pattern:
    pattern, created = Pattern.objects.get_or_create(
        tenant=tenant, key=key, defaults={"name": name, "created_at": now}
    )
    if not created and name and not pattern.name:
        pattern.name = name
        pattern.save(update_fields=["name"])
    return pattern


@transaction.atomic
def incident_record(
    *,
    tenant: Tenant,
    pattern_key: str,
    signature: str,
    severity: int,
    actor: Actor,
    occurred_at: dt.datetime | None = None,
    title: str = "",
    pattern_name: str = "",
    event_id: str | None = None,
    now: dt.datetime | None = None,
) -> Incident:
    """Record an incident under its pattern (created on first sight). A repeated ``event_id``
    returns the incident stored the first time."""
    now = _aware(now)
    if event_id:
        existing = Incident.objects.filter(tenant=tenant, event_id=event_id).first()
        if existing is not None:
            return existing
    if not 1 <= severity <= 10:
        raise ValidationFailed({"severity": ["must be between 1 and 10"]})
    pattern = _pattern_for(tenant=tenant, key=pattern_key, name=pattern_name, now=now)
    incident, created = _create_once(
        Incident,
        tenant_id=tenant.pk,
        event_id=event_id or None,
        pattern=pattern,
        signature=signature,
        title=title,
        severity=severity,
        occurred_at=_aware(occurred_at or now),
        created_at=now,
    )
    if not created:
        return incident
    _timeline_add_incident_created(incident=incident)
    ledger_append(
        tenant=tenant,
        kind="learning.incident_recorded",
        actor=actor,
        subject=incident,
        payload={"pattern": pattern.key, "signature": signature, "severity": severity},
        now=now,
    )
    return incident


@transaction.atomic
def policy_create_from_incident(
    *,
    incident: Incident,
    name: str,
    actor: Actor,
    auto_demote_score: float = DEFAULT_AUTO_DEMOTE_SCORE,
    auto_demote_count: int = DEFAULT_AUTO_DEMOTE_COUNT,
    decay_rate: float = DEFAULT_DECAY_RATE,
    now: dt.datetime | None = None,
) -> LearnedPolicy:
    """A policy is born (in SHADOW) from an incident's pattern: ``policy_born`` goes on the
    incident's timeline. A pattern has at most one policy that is not retired."""
    now = _aware(now)
    errors: dict[str, list[str]] = {}
    if auto_demote_score <= 0:
        errors["auto_demote_score"] = ["must be greater than 0"]
    if auto_demote_count < 1:
        errors["auto_demote_count"] = ["must be at least 1"]
    if not 0.0 <= decay_rate <= 1.0:
        errors["decay_rate"] = ["must be between 0 and 1"]
    if not (name or "").strip():
        errors["name"] = ["a policy needs a name"]
    if errors:
        raise ValidationFailed(errors)
    # Lock the pattern row so two births from the same pattern queue instead of racing.
    pattern = Pattern.objects.select_for_update().get(pk=incident.pattern_id)
    live = (
        LearnedPolicy.objects.filter(tenant_id=incident.tenant_id, pattern=pattern)
        .exclude(state=PolicyState.RETIRED)
        .first()
    )
    if live is not None:
        raise PolicyExists(
            f"pattern {pattern.key} already has policy #{live.pk} ({live.state})",
            policy_id=live.pk,
            current_state=live.state,
        )
    policy = LearnedPolicy.objects.create(
        tenant_id=incident.tenant_id,
        pattern=pattern,
        source_incident=incident,
        name=name.strip(),
        born_at=now,
        created_by_label=actor.label,
        auto_demote_score=auto_demote_score,
        auto_demote_count=auto_demote_count,
        decay_rate=decay_rate,
        last_decayed_at=now,
    )
    _timeline_add_policy_born(policy=policy)
    ledger_append(
        tenant=incident.tenant_id,
        kind="learning.policy_born",
        actor=actor,
        subject=policy,
        payload={
            "incident": incident.pk,
            "pattern": pattern.key,
            "name": policy.name,
            "auto_demote_score": auto_demote_score,
            "auto_demote_count": auto_demote_count,
            "decay_rate": decay_rate,
        },
        now=now,
    )
    return policy


@transaction.atomic
def policy_activate(
    *, policy: LearnedPolicy, user, reason: str, now: dt.datetime | None = None
) -> LearnedPolicy:
    """SHADOW -> ACTIVE: the policy starts blocking, a human act."""
    return govern_transition(
        obj=policy,
        transition="activate",
        kind=LedgerKind.LEARNING_POLICY_ACTIVATED,
        what="activating a policy",
        human=True,
        user=user,
        reason=reason,
        kwargs={"now": _aware(now)},
        now=_aware(now),
    )


def _open_demotion_checkpoint(policy: LearnedPolicy, *, now: dt.datetime) -> None:
    description = (
        f"Policy '{policy.name}' (#{policy.pk}) was demoted automatically: "
        f"{policy.demoted_reason}. Reinstate it with a reason, or retire it."
    )
    try:
        checkpoint_open(
            tenant=policy.tenant,
            checkpoint_type=CheckpointType.POLICY_DEMOTED,
            description=description,
            subject=policy,
            priority=CheckpointPriority.HIGH,
            actor=Actor.system("regret"),
            now=now,
        )
    except CheckpointQueueFull:
        # A full queue must not undo a safety demotion, nor hide it: CRITICAL is always taken.
        checkpoint_open(
            tenant=policy.tenant,
            checkpoint_type=CheckpointType.POLICY_DEMOTED,
            description=description,
            subject=policy,
            priority=CheckpointPriority.CRITICAL,
            actor=Actor.system("regret"),
            now=now,
        )


def _policy_trigger_demotion(
    *, policy: LearnedPolicy, event: RegretEvent, reason: str, now: dt.datetime
) -> None:
    """The seed's ``_trigger_demotion``, inside the regret's transaction: FSM transition, the
    triggering event marked ``was_auto_rolled_back``, a ledger entry, a rollback timeline
    entry and a HIGH ``policy_demoted`` checkpoint."""
    policy.demote_automatically(reason=reason, now=now)
    policy.save()
    event.was_auto_rolled_back = True
    event.save(update_fields=["was_auto_rolled_back"])
    ledger_append(
        tenant=policy.tenant_id,
        kind="learning.policy_demoted",
        actor=Actor.system("regret"),
        subject=policy,
        payload={
            "automatic": True,
            "reason": reason,
            "regret_event": event.pk,
            "regret_score": policy.regret_score,
            "regret_count": policy.regret_count,
            "auto_demote_score": policy.auto_demote_score,
            "auto_demote_count": policy.auto_demote_count,
        },
        now=now,
    )
    _timeline_add_rollback(policy=policy, now=now)
    _open_demotion_checkpoint(policy, now=now)


@transaction.atomic
def policy_demote(
    *, policy: LearnedPolicy, user, reason: str, now: dt.datetime | None = None
) -> LearnedPolicy:
    """A reviewer's manual override: ACTIVE -> DEMOTED, recording who."""
    now = _aware(now)

    def settle_regret(row: LearnedPolicy) -> None:
        row.regret_score = decayed_score(
            score=row.regret_score, decay_rate=row.decay_rate, since=row.last_decayed_at, now=now
        )
        row.last_decayed_at = max(row.last_decayed_at, now)

    policy = govern_transition(
        obj=policy,
        transition="demote",
        kind=LedgerKind.LEARNING_POLICY_DEMOTED,
        what="demoting a policy by hand",
        human=True,
        user=user,
        reason=reason,
        kwargs={"user": user, "reason": (reason or "").strip(), "now": now},
        before_transition=settle_regret,
        payload={"automatic": False, "demoted_by": Actor.for_user(user).label},
        now=now,
    )
    _timeline_add_rollback(policy=policy, now=now, demoted_by=Actor.for_user(user).label)
    return policy


@transaction.atomic
def policy_reinstate(
    *, policy: LearnedPolicy, user, reason: str, now: dt.datetime | None = None
) -> LearnedPolicy:
    """DEMOTED -> ACTIVE by a reviewer with a reason. The regret count and score start afresh;
    the pending demotion checkpoint is resolved as rejected (the demotion is overruled)."""
    previous = {"regret_score": policy.regret_score, "regret_count": policy.regret_count}
    return govern_transition(
        obj=policy,
        transition="reinstate",
        kind=LedgerKind.LEARNING_POLICY_REINSTATED,
        what="reinstating a policy",
        human=True,
        user=user,
        reason=reason,
        kwargs={"user": user, "now": _aware(now)},
        payload={"previous": previous},
        resolve_checkpoints=False,
        now=_aware(now),
    )


@transaction.atomic
def policy_retire(
    *, policy: LearnedPolicy, actor: Actor, reason: str, now: dt.datetime | None = None
) -> LearnedPolicy:
    """SHADOW | ACTIVE | DEMOTED -> RETIRED. Retiring only removes a policy's effect, so a
    machine may do it; a pending demotion checkpoint is resolved as accepted."""
    reason = require_reason(reason, what="retiring a policy")
    return govern_transition(
        obj=policy,
        transition="retire",
        kind=LedgerKind.LEARNING_POLICY_RETIRED,
        what="retiring a policy",
        human=False,
        actor=actor,
        reason=reason,
        kwargs={"now": _aware(now)},
        payload={"from": policy.state},
        resolve_checkpoints=True,
        now=_aware(now),
    )


# --- prevention -------------------------------------------------------------------------------


@transaction.atomic
def prevention_record(
    *,
    policy: LearnedPolicy,
    outcome: str,
    signature_match_confidence: float,
    actor: Actor,
    blocked_incident: Incident | None = None,
    blocked_signature: str = "",
    calls_evaluated: int = 0,
    event_id: str | None = None,
    now: dt.datetime | None = None,
) -> PreventionRecord:
    """Evidence that an ACTIVE policy prevented a recurrence of its pattern (PREVENTED) or did
    not (RECURRED, which names the recurring incident). The match confidence is banded by
    the pattern's adaptive confidence (calibration)."""
    now = _aware(now)
    if event_id:
        existing = PreventionRecord.objects.filter(
            tenant_id=policy.tenant_id, event_id=event_id
        ).first()
        if existing is not None:
            return existing
    errors: dict[str, list[str]] = {}
    if outcome not in PreventionOutcome.values:
        errors["outcome"] = [f"must be one of {', '.join(PreventionOutcome.values)}"]
    if not 0.0 <= signature_match_confidence <= 1.0:
        errors["signature_match_confidence"] = ["must be between 0 and 1"]
    if calls_evaluated < 0:
        errors["calls_evaluated"] = ["must not be negative"]
    if outcome == PreventionOutcome.RECURRED and blocked_incident is None:
        errors["blocked_incident"] = ["a recurrence names the incident that recurred"]
    if blocked_incident is not None and blocked_incident.tenant_id != policy.tenant_id:
        errors["blocked_incident"] = ["no such incident"]
    elif blocked_incident is not None and blocked_incident.pattern_id != policy.pattern_id:
        errors["blocked_incident"] = ["the incident is not of the policy's pattern"]
    if errors:
        raise ValidationFailed(errors)
    policy = _lock(policy)
    if policy.state != PolicyState.ACTIVE:
        raise TransitionConflict(
            f"cannot record a prevention for policy #{policy.pk} in state {policy.state}",
            current_state=policy.state,
        )
    record, created = _create_once(
        PreventionRecord,
        tenant_id=policy.tenant_id,
        event_id=event_id or None,
        policy=policy,
        pattern=policy.pattern,
        original_incident=policy.source_incident,
        blocked_incident=blocked_incident,
        blocked_signature=blocked_signature,
        outcome=outcome,
        signature_match_confidence=signature_match_confidence,
        match_band=pattern_band(
            tenant_id=policy.tenant_id,
            pattern=policy.pattern.key,
            confidence=signature_match_confidence,
        ),
        time_since_policy=max(now - policy.born_at, dt.timedelta(0)),
        calls_evaluated=calls_evaluated,
        created_at=now,
        recorded_by=actor.label,
    )
    if not created:
        return record
    counter = "prevention_count" if outcome == PreventionOutcome.PREVENTED else "recurrence_count"
    setattr(policy, counter, getattr(policy, counter) + 1)
    policy.save(update_fields=[counter])
    _timeline_add_prevention(record=record, policy=policy)
    ledger_append(
        tenant=policy.tenant_id,
        kind="learning.prevention_recorded",
        actor=actor,
        subject=record,
        payload={
            "policy": policy.pk,
            "pattern": policy.pattern.key,
            "outcome": outcome,
            "original_incident": policy.source_incident_id,
            "blocked_incident": record.blocked_incident_id,
            "signature_match_confidence": signature_match_confidence,
            "band": record.match_band,
            "calls_evaluated": calls_evaluated,
        },
        now=now,
    )
    return record


# --- regret -----------------------------------------------------------------------------------


def _demotion_reason(policy: LearnedPolicy) -> str | None:
    if policy.regret_score >= policy.auto_demote_score:
        return (
            f"regret score {policy.regret_score:.1f} reached the auto-demote score "
            f"{policy.auto_demote_score:g}"
        )
    if policy.regret_count >= policy.auto_demote_count:
        return (
            f"{policy.regret_count} regret events since "
            f"{'reinstatement' if policy.reinstated_at else 'birth'} reached the auto-demote "
            f"count {policy.auto_demote_count}"
        )
    return None


@transaction.atomic
def regret_record(
    *,
    policy: LearnedPolicy,
    regret_type: str,
    severity: int,
    actor: Actor,
    description: str = "",
    affected_calls: int = 0,
    affected_users: int = 0,
    impact_duration: dt.timedelta | None = None,
    manual_override_by=None,
    event_id: str | None = None,
    now: dt.datetime | None = None,
) -> RegretEvent:
    """Harm caused by a policy. Its severity raises the policy's (decayed) regret score; an
    ACTIVE policy that reaches its auto-demote score, or its auto-demote count of events since
    the last reinstatement, is demoted in this same transaction."""
    now = _aware(now)
    if event_id:
        existing = RegretEvent.objects.filter(tenant_id=policy.tenant_id, event_id=event_id).first()
        if existing is not None:
            return existing
    errors: dict[str, list[str]] = {}
    if regret_type not in RegretType.values:
        errors["regret_type"] = [f"must be one of {', '.join(RegretType.values)}"]
    if not 1 <= severity <= 10:
        errors["severity"] = ["must be between 1 and 10"]
    if affected_calls < 0:
        errors["affected_calls"] = ["must not be negative"]
    if affected_users < 0:
        errors["affected_users"] = ["must not be negative"]
    if impact_duration is not None and impact_duration < dt.timedelta(0):
        errors["impact_duration"] = ["must not be negative"]
    if errors:
        raise ValidationFailed(errors)
    policy = _lock(policy)
    if policy.state == PolicyState.RETIRED:
        raise TransitionConflict(
            f"cannot record regret for policy #{policy.pk} in state {policy.state}",
            current_state=policy.state,
        )
    policy.regret_score = (
        decayed_score(
            score=policy.regret_score,
            decay_rate=policy.decay_rate,
            since=policy.last_decayed_at,
            now=now,
        )
        + severity
    )
    policy.last_decayed_at = max(policy.last_decayed_at, now)
    policy.regret_count += 1
    policy.regret_total += 1
    event, created = _create_once(
        RegretEvent,
        tenant_id=policy.tenant_id,
        event_id=event_id or None,
        policy=policy,
        regret_type=regret_type,
        description=description,
        severity=severity,
        affected_calls=affected_calls,
        affected_users=affected_users,
        impact_duration=impact_duration,
        created_at=now,
        manual_override_by=manual_override_by,
        recorded_by=actor.label,
        score_after=policy.regret_score,
    )
    if not created:
        return event
    policy.save(update_fields=["regret_score", "last_decayed_at", "regret_count", "regret_total"])
    ledger_append(
        tenant=policy.tenant_id,
        kind="learning.regret_recorded",
        actor=actor,
        subject=event,
        payload={
            "policy": policy.pk,
            "regret_type": regret_type,
            "severity": severity,
            "regret_score": policy.regret_score,
            "regret_count": policy.regret_count,
            "manual_override_by": getattr(manual_override_by, "username", None),
        },
        now=now,
    )
    _timeline_add_regret(event=event, policy=policy)
    reason = _demotion_reason(policy) if policy.state == PolicyState.ACTIVE else None
    if reason is not None:
        _policy_trigger_demotion(policy=policy, event=event, reason=reason, now=now)
    event.policy = policy
    return event


@transaction.atomic
def regret_decay_all(*, now: dt.datetime | None = None) -> int:
    """The beat pass: every policy's score becomes ``score * (1 - decay_rate) ** days`` since
    its ``last_decayed_at``, in one UPDATE per tenant with work (not a loop over rows).

    ``last_decayed_at`` moves to ``now`` in the same UPDATE and the WHERE clause takes only
    rows decayed before ``now``: a second run at the same instant finds nothing, and a
    concurrent run blocks on the row locks, re-checks the WHERE clause and skips the rows the
    first one took. Returns how many policies decayed."""
    now = _aware(now)
    due = LearnedPolicy.objects.filter(
        regret_score__gt=NEGLIGIBLE_REGRET, decay_rate__gt=0.0, last_decayed_at__lt=now
    )
    # Tenants in a fixed order, so concurrent passes lock rows in the same order (no deadlock).
    tenant_ids = list(due.order_by("tenant_id").values_list("tenant_id", flat=True).distinct())
    total = 0
    for tenant_id in tenant_ids:
        count = due.filter(tenant_id=tenant_id).update(
            regret_score=decayed_score_expression(now), last_decayed_at=Value(now)
        )
        if count:
            total += count
            ledger_append(
                tenant=tenant_id,
                kind="learning.regret_decayed",
                actor=Actor.system("beat"),
                payload={"policies": count, "as_of": now},
                now=now,
            )
    return total


# --- gate 3 -----------------------------------------------------------------------------------


@transaction.atomic
def timeline_record_console_proof(
    *, incident: Incident, user, now: dt.datetime | None = None
) -> ConsoleProof:
    """Gate 3: a reviewer has seen this incident's timeline show the loop (incident, then a
    policy born from it, then a prevention). Recording it twice keeps the first record."""
    now = _aware(now)
    actor = require_human(
        user=user, tenant_id=incident.tenant_id, reason="console proof", what="a console proof"
    )
    existing = ConsoleProof.objects.filter(incident=incident).first()
    if existing is not None:
        return existing
    timeline = prevention_timeline(incident=incident)
    if not timeline.is_learning_proof:
        raise ValidationFailed(
            {
                "incident": [
                    "its timeline does not show incident -> policy born -> prevention "
                    f"(it shows: {', '.join(timeline.kinds) or 'nothing'})"
                ]
            }
        )
    proof = ConsoleProof.objects.create(
        tenant_id=incident.tenant_id, incident=incident, recorded_by=user, recorded_at=now
    )
    ledger_append(
        tenant=incident.tenant_id,
        kind="learning.console_proof_recorded",
        actor=actor,
        subject=incident,
        payload={"kinds": timeline.kinds},
        now=now,
    )
    return proof


@transaction.atomic
def prevention_counters_rebuild(*, tenant_id: int | None = None) -> int:
    """Recount every policy's prevention and recurrence counters from the records, in one
    UPDATE (repair after bulk loads). Returns how many policies were updated."""
    from django.db.models import Count, IntegerField, OuterRef, Subquery
    from django.db.models.functions import Coalesce

    def count_of(outcome: str):
        return Coalesce(
            Subquery(
                PreventionRecord.objects.filter(policy=OuterRef("pk"), outcome=outcome)
                .order_by()
                .values("policy")
                .annotate(n=Count("id"))
                .values("n"),
                output_field=IntegerField(),
            ),
            0,
        )

    policies = LearnedPolicy.objects.all()
    if tenant_id is not None:
        policies = policies.filter(tenant_id=tenant_id)
    return policies.update(
        prevention_count=count_of(PreventionOutcome.PREVENTED),
        recurrence_count=count_of(PreventionOutcome.RECURRED),
    )
