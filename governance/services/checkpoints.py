"""The reviewers' inbox. Every app asks a human through ``checkpoint_open``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.db.models import Model
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django_fsm import can_proceed

from governance.errors import DomainError, TransitionConflict, ValidationFailed
from governance.kernel.authority import require_human
from governance.kernel.checkpoints import (  # noqa: F401 (re-exported)
    DecideOnSubject,
    checkpoint_resolve_for_subject,
    checkpoint_subject_decider,
    checkpoint_subject_get,
)
from governance.kernel.kinds import LedgerKind
from governance.kernel.transitions import govern_transition
from governance.models import (
    Checkpoint,
    CheckpointConfig,
    CheckpointPriority,
    CheckpointState,
    CheckpointType,
    Tenant,
)
from governance.services.ledger import Actor, ledger_append, subject_of

# Opened by the system only, when it asks a human about a governed change or a safety action;
# a machine opening one could fill the queue with look-alikes of real approvals.
SYSTEM_ONLY_TYPES = frozenset(
    {
        CheckpointType.CONFIG_APPROVAL,
        CheckpointType.TRIPWIRE_TRIGGERED,
        CheckpointType.POLICY_DEMOTED,
        CheckpointType.SETTINGS_CHANGE,
        CheckpointType.ROLLOUT_ABORTED,
    }
)
# Never approved by confidence, whatever a tenant's config says (SPEC 4: never for approvals
# of configs or settings, nor for the safety actions a human must see).
NEVER_AUTO_APPROVED = SYSTEM_ONLY_TYPES
# Types whose subject is only a reference ("please look at this"): deciding them decides the
# request, not the subject, so they are resolved in the queue even when they name a subject.
REFERENCE_TYPES = frozenset({CheckpointType.REVIEW_REQUEST, CheckpointType.CUSTOM})


class CheckpointQueueFull(DomainError):
    status_code = 429
    code = "checkpoint_queue_full"


def checkpoint_config_for(*, tenant: Tenant) -> CheckpointConfig:
    config, _ = CheckpointConfig.objects.get_or_create(tenant=tenant)
    return config


def _priority(value: int | str) -> int:
    if isinstance(value, str):
        return CheckpointPriority[value.upper()].value
    return int(value)


def auto_approvable(
    *,
    config: CheckpointConfig,
    checkpoint_type: str,
    subject_type: str,
    blocking: bool,
    confidence: float | None,
) -> bool:
    """Approved at creation only when every bound holds: the tenant set a level and the
    confidence reaches it, the tenant allows this type, the type is not one that is never
    auto-approved, the checkpoint does not block, and it is not decided through a subject (an
    auto-approved ticket would say "approved" while its subject is still undecided)."""
    return (
        confidence is not None
        and config.auto_approve_confidence is not None
        and confidence >= config.auto_approve_confidence
        and checkpoint_type in (config.auto_approve_types or [])
        and checkpoint_type not in NEVER_AUTO_APPROVED
        and not blocking
        and not _decided_through_subject(checkpoint_type, subject_type)
    )


def _decided_through_subject(checkpoint_type: str, subject_type: str) -> bool:
    return bool(subject_type) and checkpoint_type not in REFERENCE_TYPES


@transaction.atomic
def checkpoint_open(
    *,
    tenant: Tenant,
    checkpoint_type: str,
    description: str,
    subject: Model | None = None,
    confidence: float | None = None,
    priority: int | str = CheckpointPriority.NORMAL,
    blocking: bool = False,
    actor: Actor | None = None,
    now: dt.datetime | None = None,
) -> Checkpoint | None:
    """Open a checkpoint, or return None when the tenant has switched this type off.

    Applies the tenant's config: priority overrides, blocking types, auto-approval (see
    ``auto_approvable``), and the max-pending guard (CRITICAL checkpoints are always
    accepted, because refusing one would hide the thing a human most needs to see)."""
    now = now or timezone.now()
    actor = actor or Actor.system("checkpoints")
    config = checkpoint_config_for(tenant=tenant)
    if config.enabled_types and checkpoint_type not in config.enabled_types:
        return None
    level = _priority(config.priority_overrides.get(checkpoint_type, priority))
    is_blocking = blocking or checkpoint_type in config.blocking_types
    if level != CheckpointPriority.CRITICAL:
        # Lock the tenant's config row so concurrent openers count pending checkpoints in turn.
        CheckpointConfig.objects.select_for_update().filter(pk=config.pk).first()
        pending = Checkpoint.objects.filter(tenant=tenant, state=CheckpointState.PENDING).count()
        if pending >= config.max_pending:
            raise CheckpointQueueFull(
                f"{pending} checkpoints are pending (max_pending={config.max_pending}); "
                f"resolve some before opening a {CheckpointPriority(level).label} one",
                pending=pending,
                max_pending=config.max_pending,
            )
    subject_type, subject_id = subject_of(subject)
    checkpoint = Checkpoint(
        tenant=tenant,
        checkpoint_type=checkpoint_type,
        subject_type=subject_type,
        subject_id=subject_id,
        description=description,
        confidence=confidence,
        priority=level,
        blocking=is_blocking,
        created_at=now,
        expires_at=None if is_blocking else now + dt.timedelta(hours=config.auto_dismiss_hours),
    )
    auto = auto_approvable(
        config=config,
        checkpoint_type=checkpoint_type,
        subject_type=subject_type,
        blocking=is_blocking,
        confidence=confidence,
    )
    if auto:
        checkpoint.auto_approve(now=now)
    checkpoint.save()
    ledger_append(
        tenant=tenant,
        kind=LedgerKind.CHECKPOINT_AUTO_APPROVED if auto else LedgerKind.CHECKPOINT_OPENED,
        actor=actor,
        subject=checkpoint,
        payload={
            "type": checkpoint_type,
            "priority": CheckpointPriority(level).label,
            "blocking": is_blocking,
            "confidence": confidence,
            "about": {"type": subject_type, "id": subject_id},
        },
        now=now,
    )
    return checkpoint


def _subject_url(checkpoint: Checkpoint, subject: Model | None, decider) -> str:
    """Where a checkpoint's subject is decided: the decider's page, else the subject's admin
    page, else the checkpoint's own page."""
    if subject is not None and decider is not None:
        return decider.url(subject)
    target = subject if subject is not None else checkpoint
    meta = target._meta
    try:
        return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[target.pk])
    except NoReverseMatch:
        return ""


def checkpoint_decide_url(*, checkpoint: Checkpoint) -> str:
    """The page where this checkpoint is decided (the queue links each row to it)."""
    if not checkpoint.subject_type:
        return _subject_url(checkpoint, None, None)
    subject = checkpoint_subject_get(
        tenant_id=checkpoint.tenant_id,
        subject_type=checkpoint.subject_type,
        subject_id=checkpoint.subject_id,
    )
    decider = checkpoint_subject_decider(
        subject_type=checkpoint.subject_type, checkpoint_type=checkpoint.checkpoint_type
    )
    return _subject_url(checkpoint, subject, decider)


def _decide_through_subject(
    *, checkpoint: Checkpoint, approve: bool, user: Any, reason: str
) -> Checkpoint:
    decider = checkpoint_subject_decider(
        subject_type=checkpoint.subject_type, checkpoint_type=checkpoint.checkpoint_type
    )
    subject = checkpoint_subject_get(
        tenant_id=checkpoint.tenant_id,
        subject_type=checkpoint.subject_type,
        subject_id=checkpoint.subject_id,
    )
    decide = None if decider is None else (decider.approve if approve else decider.reject)
    if subject is None or decide is None:
        url = _subject_url(checkpoint, subject, decider)
        refusal = decider.refusal if decider is not None and decider.refusal else ""
        raise DecideOnSubject(
            f"this {checkpoint.checkpoint_type} checkpoint is decided on its subject "
            f"({checkpoint.subject_type} #{checkpoint.subject_id}), at {url or 'its page'}"
            + (f": {refusal}" if refusal else ""),
            current_state=checkpoint.state,
            decide_url=url,
            subject={"type": checkpoint.subject_type, "id": checkpoint.subject_id},
        )
    # The subject's service applies its own rules (four eyes, approvals required, a stale
    # base...) and resolves this checkpoint itself when the subject is decided; a partial
    # decision (one approval of two) leaves both pending, so they still agree.
    decide(subject, user, reason)
    checkpoint.refresh_from_db()
    return checkpoint


@transaction.atomic
def checkpoint_resolve(
    *,
    checkpoint: Checkpoint,
    approve: bool,
    user: Any,
    reason: str,
    now: dt.datetime | None = None,
) -> Checkpoint:
    """A reviewer's decision from the queue. A checkpoint about a subject decides the subject
    through its app's decider (or is refused with 409 ``decide_on_subject`` and the page where
    it is decided); one without (a review request) is resolved here."""
    now = now or timezone.now()
    what = "approving a checkpoint" if approve else "rejecting a checkpoint"
    require_human(user=user, tenant_id=checkpoint.tenant_id, reason=reason, what=what)
    row = Checkpoint.objects.get(pk=checkpoint.pk)
    if not can_proceed(row.approve if approve else row.reject):
        raise TransitionConflict(
            f"checkpoint #{row.pk} is {row.state}, not PENDING", current_state=row.state
        )
    if _decided_through_subject(row.checkpoint_type, row.subject_type):
        # Not locked here: the subject's service locks the subject, then updates its
        # checkpoints, and deciding the subject directly takes the same order, so the two
        # routes never wait on each other's locks in opposite orders (a deadlock).
        return _decide_through_subject(checkpoint=row, approve=approve, user=user, reason=reason)

    def record_resolver(resolved: Checkpoint) -> None:
        resolved.resolved_by_id = user.pk

    return govern_transition(
        obj=row,
        transition="approve" if approve else "reject",
        kind=LedgerKind.CHECKPOINT_APPROVED if approve else LedgerKind.CHECKPOINT_REJECTED,
        what=what,
        user=user,
        human=True,
        reason=reason,
        kwargs={"reason": reason.strip(), "now": now},
        after_transition=record_resolver,
        payload={
            "type": row.checkpoint_type,
            "about": {"type": row.subject_type, "id": row.subject_id},
        },
        now=now,
    )


@transaction.atomic
def checkpoint_auto_dismiss_expired(*, now: dt.datetime | None = None) -> int:
    """Dismiss every expired non-blocking PENDING checkpoint: one UPDATE ... RETURNING-free
    pass per tenant with work, plus one ledger entry per tenant. Running it twice dismisses
    nothing more, because the state guard excludes what the first run took."""
    now = now or timezone.now()
    expired = Checkpoint.objects.filter(
        state=CheckpointState.PENDING, blocking=False, expires_at__lte=now
    )
    tenant_ids = list(expired.order_by().values_list("tenant_id", flat=True).distinct())
    total = 0
    for tenant_id in tenant_ids:
        count = expired.filter(tenant_id=tenant_id).update(
            state=CheckpointState.AUTO_DISMISSED,
            resolved_at=now,
            resolution_reason="expired without a decision",
        )
        if count:
            total += count
            ledger_append(
                tenant=tenant_id,
                kind=LedgerKind.CHECKPOINT_AUTO_DISMISSED,
                actor=Actor.system("beat"),
                payload={"count": count, "as_of": now},
                now=now,
            )
    return total


@transaction.atomic
def checkpoint_request_open(
    *,
    tenant: Tenant,
    checkpoint_type: str,
    description: str,
    actor: Actor,
    subject_type: str = "",
    subject_id: str = "",
    confidence: float | None = None,
    priority: int | str = CheckpointPriority.NORMAL,
    now: dt.datetime | None = None,
) -> Checkpoint:
    """A machine or a person of the tenant asks a human (``POST /api/governance/checkpoints/``).

    Only a type the tenant opens (a review request, unless the tenant switched it off); never
    one of the types the system opens about a governed change (those would be look-alikes of real approvals). A subject must be a
    row of this tenant."""
    errors: dict[str, list[str]] = {}
    if checkpoint_type in SYSTEM_ONLY_TYPES:
        errors["checkpoint_type"] = [f"{checkpoint_type} checkpoints are opened by the system only"]
    else:
        # A tenant that lists its types has switched the others off, review requests included.
        enabled = checkpoint_config_for(tenant=tenant).enabled_types
        if enabled and checkpoint_type not in enabled:
            errors["checkpoint_type"] = [f"this tenant does not open {checkpoint_type} checkpoints"]
    subject = None
    if subject_type or subject_id:
        subject = checkpoint_subject_get(
            tenant_id=tenant.pk, subject_type=subject_type, subject_id=subject_id
        )
        if subject is None:
            errors["subject"] = [f"no {subject_type or '?'} #{subject_id or '?'} in this tenant"]
    if errors:
        raise ValidationFailed(errors)
    checkpoint = checkpoint_open(
        tenant=tenant,
        checkpoint_type=checkpoint_type,
        description=description,
        subject=subject,
        confidence=confidence,
        priority=priority,
        actor=actor,
        now=now,
    )
    if checkpoint is None:
        raise ValidationFailed(
            {"checkpoint_type": [f"this tenant does not open {checkpoint_type} checkpoints"]}
        )
    return checkpoint
