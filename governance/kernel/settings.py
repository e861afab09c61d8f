"""Safety settings are governed like configs (SPEC 4, "Decisions").

Each settings kind (a tripwire policy, a risk cap, the charter, the checkpoint config, a
family's approvals and schema, a drift baseline, the learning switches) registers how to read
its current values, which direction of each field *loosens* it, and how to write it. Then:

- a change that only tightens applies at once, by a machine or a person, with one ledger
  entry naming them;
- a change that loosens anything becomes a ``SettingsChange`` (Unleash's change request):
  pending, with a blocking checkpoint, until a reviewer other than the requester approves it
  with a reason. Approval applies it, unless the setting moved on since the request was drafted
  (409 ``stale_setting``, as Unleash detects conflicts), in which case it must be requested again.

Why a change request and not a config family per settings kind: settings are rows that the
runtime reads directly (a tripwire evaluates its own policy row), edited a field or two at a
time; versioned payload documents with activation would add a second source of truth for
every row. The change request keeps one truth (the row) and records the proposal beside it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from governance.errors import Forbidden, NotFound, TransitionConflict, ValidationFailed
from governance.kernel.authority import require_reason
from governance.kernel.kinds import LedgerKind
from governance.kernel.transitions import govern_transition
from governance.models import (
    CheckpointPriority,
    CheckpointType,
    SettingsChange,
    SettingsChangeState,
    Tenant,
)
from governance.services.ledger import Actor, ledger_append

Loosens = Callable[[Any, Any], bool]


def _num(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def raising_loosens(old: Any, new: Any) -> bool:
    """A larger value is looser (a max drop, a cap, a threshold of change, max pending).
    None means "no limit", the loosest of all."""
    if new is None:
        return old is not None
    if old is None:
        return False
    return _num(new) > _num(old)


def lowering_loosens(old: Any, new: Any) -> bool:
    """A smaller value is looser (approvals required, a minimum confidence, a window)."""
    if new is None:
        return old is not None
    if old is None:
        return False
    return _num(new) < _num(old)


def disabling_loosens(old: Any, new: Any) -> bool:
    return bool(old) and not bool(new)


def any_change_loosens(old: Any, new: Any) -> bool:
    """Changes whose direction cannot be told (a JSON schema, a baseline reset)."""
    return old != new


def ranked(order: Sequence[Any]) -> Loosens:
    """Weaker along ``order`` (weakest first) is looser; an unknown value counts as weakest."""

    def loosens(old: Any, new: Any) -> bool:
        rank = {value: index for index, value in enumerate(order)}
        return rank.get(new, -1) < rank.get(old, -1)

    return loosens


def shrinking_set_loosens(old: Any, new: Any) -> bool:
    """A list of things switched on (collected event types): dropping one loosens."""
    return bool(set(old or []) - set(new or []))


def growing_set_loosens(old: Any, new: Any) -> bool:
    """A list of exemptions (auto-approved checkpoint types): adding one loosens."""
    return bool(set(new or []) - set(old or []))


@dataclass(frozen=True)
class SettingsKind:
    """How the kernel reads, judges and writes one kind of safety setting.

    ``read(tenant_id, target)`` returns the governed fields' current values (the defaults a
    new row would get when it does not exist yet); ``write(tenant_id, target, values, now,
    actor, reason)`` creates or updates the row and returns it (the actor and reason are for
    the row's own "changed by" columns). Neither ledgers: the kernel does."""

    name: str
    fields: dict[str, Loosens]
    read: Callable[[int, str], dict[str, Any]]
    write: Callable[[int, str, dict[str, Any], dt.datetime, Actor, str], Model]
    label: str = ""
    validate: Callable[[int, str, dict[str, Any]], dict[str, list[str]]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # For a detector (a tripwire policy, a drift baseline) a missing row means no detector at
    # all, so creating one cannot loosen anything, whatever its values: ``is_new(tenant_id,
    # target)`` says the row does not exist yet. Left None, a new row is judged against the
    # defaults ``read`` returns (a risk policy's defaults are what a missing one enforces).
    is_new: Callable[[int, str], bool] | None = None


_KINDS: dict[str, SettingsKind] = {}


def settings_kind_register(kind: SettingsKind) -> SettingsKind:
    _KINDS[kind.name] = kind
    return kind


def settings_kind(name: str) -> SettingsKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise NotFound(f"no settings kind {name!r}") from None


def settings_kinds() -> dict[str, SettingsKind]:
    return dict(_KINDS)


@dataclass(frozen=True)
class SettingsOutcome:
    """``applied``: the row as written (tightening, or nothing changed); ``change``: the
    pending request when the change loosens something."""

    applied: Model | None
    change: SettingsChange | None
    before: dict[str, Any]
    after: dict[str, Any]
    loosened: list[str]

    @property
    def pending(self) -> bool:
        return self.change is not None


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {
        key: (str(value) if isinstance(value, Decimal) else value) for key, value in values.items()
    }


@transaction.atomic
def settings_change(
    *,
    tenant: Tenant | int,
    setting: str,
    target: str,
    values: dict[str, Any],
    actor: Actor,
    reason: str = "",
    now: dt.datetime | None = None,
) -> SettingsOutcome:
    """Change a safety setting: tightening applies now, loosening opens a change request.

    ``actor`` is the authenticated identity (a machine token, a person or the system), never
    a name the client supplied."""
    now = now or timezone.now()
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    kind = settings_kind(setting)
    unknown = sorted(set(values) - set(kind.fields))
    if unknown:
        raise ValidationFailed({name: ["not a governed field of this setting"] for name in unknown})
    if kind.validate is not None:
        errors = kind.validate(tenant_id, target, values)
        if errors:
            raise ValidationFailed(errors)
    current = kind.read(tenant_id, target)
    changed = {
        name: value for name, value in values.items() if _num(current.get(name)) != _num(value)
    }
    before = _jsonable({name: current.get(name) for name in changed})
    after = _jsonable(changed)
    loosened = sorted(
        name for name in changed if kind.fields[name](current.get(name), changed[name])
    )
    if loosened and kind.is_new is not None and kind.is_new(tenant_id, target):
        loosened = []
    if not changed:
        return SettingsOutcome(applied=None, change=None, before={}, after={}, loosened=[])
    if not loosened:
        row = kind.write(tenant_id, target, changed, now, actor, (reason or "").strip())
        ledger_append(
            tenant=tenant_id,
            kind=LedgerKind.SETTINGS_CHANGED,
            actor=actor,
            subject=row,
            payload={
                "setting": setting,
                "target": target,
                "before": before,
                "after": after,
                "tightened": True,
                "reason": (reason or "").strip(),
            },
            now=now,
        )
        return SettingsOutcome(applied=row, change=None, before=before, after=after, loosened=[])
    reason = require_reason(reason, what=f"loosening {setting} {target}")
    change = SettingsChange.objects.create(
        tenant_id=tenant_id,
        setting=setting,
        target=target,
        before=before,
        after=after,
        loosened=loosened,
        requested_by_label=actor.label,
        requested_by_id=actor.user_id,
        reason=reason,
        created_at=now,
    )
    ledger_append(
        tenant=tenant_id,
        kind=LedgerKind.SETTINGS_CHANGE_REQUESTED,
        actor=actor,
        subject=change,
        payload={
            "setting": setting,
            "target": target,
            "before": before,
            "after": after,
            "loosened": loosened,
            "reason": reason,
        },
        now=now,
    )
    # Imported here: the checkpoint service builds on the kernel, not the other way round.
    from governance.services.checkpoints import checkpoint_open

    checkpoint_open(
        tenant=Tenant.objects.get(pk=tenant_id),
        checkpoint_type=CheckpointType.SETTINGS_CHANGE,
        subject=change,
        description=(
            f"Loosen {kind.label or setting} {target}: "
            + ", ".join(f"{name} {before.get(name)!r} -> {after[name]!r}" for name in loosened)
        ),
        priority=CheckpointPriority.HIGH,
        blocking=True,
        actor=actor,
        now=now,
    )
    return SettingsOutcome(
        applied=None, change=change, before=before, after=after, loosened=loosened
    )


def _require_unchanged_since_request(change: SettingsChange) -> None:
    kind = settings_kind(change.setting)
    current = _jsonable(kind.read(change.tenant_id, change.target))
    moved = {
        name: current.get(name)
        for name, value in change.before.items()
        if _num(current.get(name)) != _num(value)
    }
    if moved:
        raise TransitionConflict(
            f"{change.setting} {change.target} changed since this request was drafted "
            f"({', '.join(sorted(moved))}): request it again",
            current_state=change.state,
            code="stale_setting",
            current=moved,
        )


@transaction.atomic
def settings_change_approve(
    *, change: SettingsChange, user: Any, reason: str, now: dt.datetime | None = None
) -> SettingsChange:
    """A second reviewer approves a loosening: it applies now, in the same transaction."""
    now = now or timezone.now()

    def four_eyes_and_fresh(row: SettingsChange) -> None:
        if Actor.for_user(user).label == row.requested_by_label or (
            row.requested_by_id is not None and row.requested_by_id == user.pk
        ):
            raise Forbidden("four eyes: the requester of a settings change cannot approve it")
        _require_unchanged_since_request(row)

    row = govern_transition(
        obj=change,
        transition="apply",
        kind=LedgerKind.SETTINGS_CHANGE_APPROVED,
        what="approving a settings change",
        user=user,
        human=True,
        reason=reason,
        kwargs={"by": user, "reason": (reason or "").strip(), "now": now},
        before_transition=four_eyes_and_fresh,
        payload={
            "setting": change.setting,
            "target": change.target,
            "before": change.before,
            "after": change.after,
            "requested_by": change.requested_by_label,
        },
        resolve_checkpoints=True,
        now=now,
    )
    settings_kind(row.setting).write(
        row.tenant_id, row.target, row.after, now, Actor.for_user(user), row.reason
    )
    return row


@transaction.atomic
def settings_change_reject(
    *, change: SettingsChange, user: Any, reason: str, now: dt.datetime | None = None
) -> SettingsChange:
    now = now or timezone.now()
    return govern_transition(
        obj=change,
        transition="reject",
        kind=LedgerKind.SETTINGS_CHANGE_REJECTED,
        what="rejecting a settings change",
        user=user,
        human=True,
        reason=reason,
        kwargs={"by": user, "reason": (reason or "").strip(), "now": now},
        payload={"setting": change.setting, "target": change.target},
        resolve_checkpoints=False,
        now=now,
    )


def pending_settings_changes(*, tenant_id: int, setting: str | None = None):
    changes = SettingsChange.objects.filter(tenant_id=tenant_id, state=SettingsChangeState.PENDING)
    return changes.filter(setting=setting) if setting else changes
