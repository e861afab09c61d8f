"""Resolving a subject resolves its checkpoints: the queue and the subjects never disagree."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from governance.kernel.kinds import LedgerKind
from governance.models import Checkpoint, CheckpointState, Tenant
from governance.services.ledger import Actor, ledger_append, subject_of


@transaction.atomic
def checkpoint_resolve_for_subject(
    *,
    tenant: Tenant | int,
    subject: Model,
    approve: bool,
    actor: Actor,
    reason: str,
    checkpoint_type: str | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Resolving a subject (approving a version, acknowledging a tripwire) resolves its pending
    checkpoints. One UPDATE; returns how many were resolved."""
    now = now or timezone.now()
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    subject_type, subject_id = subject_of(subject)
    pending = Checkpoint.objects.filter(
        tenant_id=tenant_id,
        subject_type=subject_type,
        subject_id=subject_id,
        state=CheckpointState.PENDING,
    )
    if checkpoint_type:
        pending = pending.filter(checkpoint_type=checkpoint_type)
    ids = list(pending.values_list("pk", flat=True))
    if not ids:
        return 0
    resolved = Checkpoint.objects.filter(pk__in=ids, state=CheckpointState.PENDING).update(
        state=CheckpointState.APPROVED if approve else CheckpointState.REJECTED,
        resolved_at=now,
        resolved_by_id=actor.user_id,
        resolution_reason=reason,
    )
    # A subject has one or two open checkpoints, so an entry each keeps every checkpoint's
    # history complete at no real cost.
    for checkpoint_id in ids:
        ledger_append(
            tenant=tenant_id,
            kind=LedgerKind.CHECKPOINT_RESOLVED_BY_SUBJECT,
            actor=actor,
            subject_type=Checkpoint._meta.label_lower,
            subject_id=str(checkpoint_id),
            payload={
                "approved": approve,
                "reason": reason,
                "about": {"type": subject_type, "id": subject_id},
            },
            now=now,
        )
    return resolved
