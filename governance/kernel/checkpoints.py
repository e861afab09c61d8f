"""The queue and the subjects never disagree.

- Resolving a subject (approving a version, acknowledging a tripwire) resolves its checkpoints
  (``checkpoint_resolve_for_subject``).
- Deciding a checkpoint that has a subject decides the subject, through the decider its app
  registered (``checkpoint_subject_decider_register``), or is refused with the URL of the page
  where the subject is decided."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from governance.errors import TransitionConflict
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


# --- deciding a checkpoint through its subject ----------------------------------------------

Decide = Callable[[Model, Any, str], Any]


@dataclass(frozen=True)
class SubjectDecider:
    """How a checkpoint about ``subject_type`` is decided: ``approve`` / ``reject`` call the
    subject's own service as ``(subject, user, reason)`` (None: that decision is not taken from
    the queue), ``url(subject)`` is the page where the subject is decided. ``checkpoint_types``
    limits it to those types (empty: every type about this subject)."""

    subject_type: str
    approve: Decide | None
    reject: Decide | None
    url: Callable[[Model], str]
    checkpoint_types: frozenset[str] = frozenset()
    refusal: str = ""


_DECIDERS: dict[str, list[SubjectDecider]] = {}


def checkpoint_subject_decider_register(
    *,
    subject_type: str,
    approve: Decide | None,
    reject: Decide | None,
    url: Callable[[Model], str],
    checkpoint_types: tuple[str, ...] = (),
    refusal: str = "",
) -> SubjectDecider:
    """Each app registers, in ``AppConfig.ready``, how its subjects are decided, so governance
    routes a queue decision to the subject's service without importing the higher apps.
    Registering the same subject and types again replaces the earlier entry."""
    decider = SubjectDecider(
        subject_type=subject_type.lower(),
        approve=approve,
        reject=reject,
        url=url,
        checkpoint_types=frozenset(str(t) for t in checkpoint_types),
        refusal=refusal,
    )
    entries = [
        d
        for d in _DECIDERS.get(decider.subject_type, [])
        if d.checkpoint_types != decider.checkpoint_types
    ]
    _DECIDERS[decider.subject_type] = [*entries, decider]
    return decider


def checkpoint_subject_decider(*, subject_type: str, checkpoint_type: str) -> SubjectDecider | None:
    """The decider for a checkpoint of ``checkpoint_type`` about a ``subject_type`` row; one
    registered for that type wins over one for every type."""
    entries = _DECIDERS.get(subject_type.lower(), [])
    for decider in entries:
        if checkpoint_type in decider.checkpoint_types:
            return decider
    return next((d for d in entries if not d.checkpoint_types), None)


def checkpoint_subject_get(*, tenant_id: int, subject_type: str, subject_id: str) -> Model | None:
    """The subject row of the tenant, or None when the type or the row does not exist, or the
    row is another tenant's or nobody's: a checkpoint never reaches across tenants."""
    try:
        model = apps.get_model(subject_type)
    except (LookupError, ValueError):
        return None
    if not any(f.name == "tenant" for f in model._meta.concrete_fields):
        return None  # not a tenant's row (a user, a group): never a checkpoint's subject
    try:
        return model._default_manager.filter(tenant_id=tenant_id, pk=subject_id).first()
    except (ValueError, TypeError, ValidationError):
        return None


class DecideOnSubject(TransitionConflict):
    """A checkpoint with a subject is decided on the subject's page, not in the queue."""

    code = "decide_on_subject"
