"""The one gate for a governed state change: lock, permission, four eyes, reason, the FSM
transition, ``save(update_fields)``, the ledger entry and the subject's checkpoints, all in
the caller's transaction. Services describe *what* changes; this function is *how* every
change happens, so no route can skip a step."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import Model
from django.utils import timezone
from django_fsm import FSMFieldMixin, can_proceed, has_transition_perm

from governance.errors import Forbidden, TransitionConflict
from governance.kernel.authority import require_human
from governance.kernel.checkpoints import checkpoint_resolve_for_subject
from governance.kernel.kinds import LedgerKind
from governance.services.ledger import Actor, ledger_append


def lock_row(obj: Model) -> Model:
    return type(obj)._default_manager.select_for_update().get(pk=obj.pk)


def _snapshot(obj: Model) -> dict[str, Any]:
    return {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}


def changed_fields(obj: Model, before: dict[str, Any]) -> list[str]:
    return [
        field.name
        for field in obj._meta.concrete_fields
        if getattr(obj, field.attname) != before[field.attname]
    ]


def _state_of(obj: Model) -> str:
    for field in obj._meta.concrete_fields:
        if isinstance(field, FSMFieldMixin):
            return str(getattr(obj, field.attname))
    return ""


def govern_transition(
    *,
    obj: Model,
    transition: str,
    kind: LedgerKind,
    what: str,
    actor: Actor | None = None,
    user: Any = None,
    human: bool,
    reason: str | None = None,
    payload: dict[str, Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    before_transition: Callable[[Model], None] | None = None,
    after_transition: Callable[[Model], None] | None = None,
    resolve_checkpoints: bool | None = None,
    lock: bool = True,
    now: dt.datetime | None = None,
) -> Model:
    """Apply ``obj.<transition>(**kwargs)`` as a governed change and return the locked row.

    ``human`` acts need ``user`` (a reviewer who is a member of the tenant) and a reason; the
    ledger names that user. Machine and system transitions name ``actor``. A transition the
    current state does not allow is a ``TransitionConflict`` (409) naming the state.
    ``before_transition`` runs on the locked row before the FSM method (extra rules, such as
    four eyes or a stale base); ``after_transition`` before the row is saved (derived fields).
    ``resolve_checkpoints``: True approves, False rejects the subject's pending checkpoints,
    None leaves them."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("govern_transition must run inside the caller's transaction")
    now = now or timezone.now()
    tenant_id = obj.tenant_id
    if human:
        actor = require_human(user=user, tenant_id=tenant_id, reason=reason, what=what)
    elif actor is None:
        raise Forbidden(f"{what}: no authenticated identity")
    row = lock_row(obj) if lock else obj
    method = getattr(row, transition)
    if not can_proceed(method):
        raise TransitionConflict(
            f"cannot {what} {row} in state {_state_of(row)}", current_state=_state_of(row)
        )
    if human and not has_transition_perm(method, user):
        raise Forbidden(f"{user.get_username()} may not {what} {row}")
    if before_transition is not None:
        before_transition(row)
    before = _snapshot(row)
    method(**(kwargs or {}))
    if after_transition is not None:
        after_transition(row)
    row.save(update_fields=changed_fields(row, before))
    body = dict(payload or {})
    if reason is not None:
        body["reason"] = reason.strip()
    body.setdefault("state", _state_of(row))
    ledger_append(tenant=tenant_id, kind=kind, actor=actor, subject=row, payload=body, now=now)
    if resolve_checkpoints is not None:
        checkpoint_resolve_for_subject(
            tenant=tenant_id,
            subject=row,
            approve=resolve_checkpoints,
            actor=actor,
            reason=(reason or what).strip(),
            now=now,
        )
    return row
