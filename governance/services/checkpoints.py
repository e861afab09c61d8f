"""The reviewers' inbox. Every app asks a human through ``checkpoint_open``."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from governance.errors import DomainError, Forbidden, TransitionConflict
from governance.kernel.checkpoints import checkpoint_resolve_for_subject  # noqa: F401
from governance.models import (
    Checkpoint,
    CheckpointConfig,
    CheckpointPriority,
    CheckpointState,
    Tenant,
)
from governance.services.ledger import Actor, ledger_append, subject_of


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

    Applies the tenant's config: priority overrides, blocking types, auto-approval at the
    configured confidence, and the max-pending guard (CRITICAL checkpoints are always
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
    auto = (
        not is_blocking
        and confidence is not None
        and config.auto_approve_confidence is not None
        and confidence >= config.auto_approve_confidence
    )
    if auto:
        checkpoint.auto_approve(now=now)
    checkpoint.save()
    ledger_append(
        tenant=tenant,
        kind="checkpoint.auto_approved" if auto else "checkpoint.opened",
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


def _require_reviewer(actor: Actor, user) -> None:
    if not actor.is_human or user is None or not user.has_perm("governance.review"):
        raise Forbidden("only a reviewer can resolve a checkpoint")


@transaction.atomic
def checkpoint_resolve(
    *,
    checkpoint: Checkpoint,
    approve: bool,
    user,
    reason: str,
    now: dt.datetime | None = None,
) -> Checkpoint:
    actor = Actor.for_user(user)
    _require_reviewer(actor, user)
    now = now or timezone.now()
    checkpoint = Checkpoint.objects.select_for_update().get(pk=checkpoint.pk)
    if checkpoint.state != CheckpointState.PENDING:
        raise TransitionConflict(
            f"checkpoint is {checkpoint.state}", current_state=checkpoint.state
        )
    if approve:
        checkpoint.approve(reason=reason, now=now)
    else:
        checkpoint.reject(reason=reason, now=now)
    checkpoint.resolved_by = user
    checkpoint.save()
    ledger_append(
        tenant=checkpoint.tenant_id,
        kind="checkpoint.approved" if approve else "checkpoint.rejected",
        actor=actor,
        subject=checkpoint,
        payload={"reason": reason, "type": checkpoint.checkpoint_type},
        now=now,
    )
    return checkpoint


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
                kind="checkpoint.auto_dismissed",
                actor=Actor.system("beat"),
                payload={"count": count, "as_of": now},
                now=now,
            )
    return total
