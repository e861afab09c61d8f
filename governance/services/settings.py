"""Governed safety settings of the governance app (the checkpoint config, a config family's
approvals and schema) and the row helpers every app's settings kinds share.

Every write of a safety setting goes through ``governance.kernel.settings.settings_change``:
tightening applies at once, loosening becomes a change request a second reviewer approves.
The helpers here are the kinds' ``read`` and ``write`` halves; they never ledger (the kernel
does)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from governance.errors import ValidationFailed
from governance.kernel.kinds import LedgerKind
from governance.kernel.settings import SettingsOutcome, settings_change, settings_kind
from governance.models import CheckpointConfig, ConfigFamily, Tenant
from governance.services.ledger import Actor, ledger_append

CHECKPOINT_CONFIG_FIELDS = (
    "enabled_types",
    "priority_overrides",
    "auto_approve_confidence",
    "auto_approve_types",
    "auto_dismiss_hours",
    "max_pending",
    "blocking_types",
)
CONFIG_FAMILY_FIELDS = ("approvals_required", "json_schema")


def _tenant_id(tenant: Tenant | int) -> int:
    return tenant if isinstance(tenant, int) else tenant.pk


def row_values(
    model: type[models.Model], row: models.Model | None, fields: tuple[str, ...]
) -> dict[str, Any]:
    """The governed fields of ``row``, or the defaults a new row would get."""
    row = row if row is not None else model()
    return {name: getattr(row, name) for name in fields}


def write_row(
    model: type[models.Model],
    *,
    lookup: dict[str, Any],
    values: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> models.Model:
    """Create or update the row under its lock, with values as the kernel stored them (JSON:
    a decimal arrives as a string, so each value goes through its field's ``to_python``)."""
    row = model._default_manager.select_for_update().filter(**lookup).first()
    if row is None:
        row = model(**lookup)
    try:
        for name, value in values.items():
            setattr(row, name, model._meta.get_field(name).to_python(value))
        for name, value in (extra or {}).items():
            setattr(row, name, value)
        row.full_clean(exclude=["tenant"], validate_unique=False)
    except ValidationError as exc:
        raise ValidationFailed(exc.message_dict) from exc
    row.save()
    return row


def tenant_config_writer(model: type[models.Model]):
    """The ``write`` of a settings kind whose row is the tenant's one config row of ``model``
    (stamped with ``updated_at``)."""

    def write(
        tenant_id: int,
        target: str,
        values: dict[str, Any],
        now: dt.datetime,
        actor: Actor,
        reason: str,
    ) -> models.Model:
        return write_row(
            model, lookup={"tenant_id": tenant_id}, values=values, extra={"updated_at": now}
        )

    return write


def validate_row(
    model: type[models.Model], *, lookup: dict[str, Any], values: dict[str, Any]
) -> dict[str, list[str]]:
    """Field errors of the row as it would be after the change (nothing is written), so a
    change request is never opened for a value that could not be applied."""
    row = model._default_manager.filter(**lookup).first() or model(**lookup)
    try:
        for name, value in values.items():
            setattr(row, name, model._meta.get_field(name).to_python(value))
        row.full_clean(exclude=["tenant"], validate_unique=False)
    except ValidationError as exc:
        return exc.message_dict
    return {}


@transaction.atomic
def settings_upsert(
    *,
    tenant: Tenant | int,
    setting: str,
    target: str,
    values: dict[str, Any],
    actor: Actor,
    reason: str,
    find: Callable[[], models.Model | None],
    now: dt.datetime | None = None,
) -> SettingsOutcome:
    """``settings_change`` for the upsert services, whose callers always get a row back: when
    nothing changed, the row as it is; when it does not exist yet and the request asks for
    nothing but the defaults (neither tighter nor looser), the row created with them."""
    now = now or timezone.now()
    tenant_id = _tenant_id(tenant)
    outcome = settings_change(
        tenant=tenant_id,
        setting=setting,
        target=target,
        values=values,
        actor=actor,
        reason=reason,
        now=now,
    )
    if outcome.applied is not None or outcome.change is not None:
        return outcome
    row = find()
    if row is None:
        reason = (reason or "").strip()
        row = settings_kind(setting).write(tenant_id, target, {}, now, actor, reason)
        ledger_append(
            tenant=tenant_id,
            kind=LedgerKind.SETTINGS_CHANGED,
            actor=actor,
            subject=row,
            payload={
                "setting": setting,
                "target": target,
                "before": {},
                "after": {},
                "created": True,
                "reason": reason,
            },
            now=now,
        )
    return replace(outcome, applied=row)


# --- checkpoint config ----------------------------------------------------------------------


def checkpoint_config_read(tenant_id: int, target: str) -> dict[str, Any]:
    row = CheckpointConfig.objects.filter(tenant_id=tenant_id).first()
    return row_values(CheckpointConfig, row, CHECKPOINT_CONFIG_FIELDS)


def checkpoint_config_write(
    tenant_id: int, target: str, values: dict[str, Any], now: dt.datetime, actor: Actor, reason: str
) -> CheckpointConfig:
    return write_row(CheckpointConfig, lookup={"tenant_id": tenant_id}, values=values)


def _is_list_of_names(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def checkpoint_config_validate(
    tenant_id: int, target: str, values: dict[str, Any]
) -> dict[str, list[str]]:
    # Shapes first: the loosening predicates compare sets of types and priorities per type.
    errors: dict[str, list[str]] = {}
    for name in ("enabled_types", "auto_approve_types", "blocking_types"):
        if name in values and not _is_list_of_names(values[name]):
            errors[name] = ["must be a list of checkpoint types"]
    overrides = values.get("priority_overrides", {})
    if not isinstance(overrides, dict) or not all(
        isinstance(level, int | str) and not isinstance(level, bool) for level in overrides.values()
    ):
        errors["priority_overrides"] = ['must be {"type": "CRITICAL|HIGH|NORMAL|LOW"}']
    return errors or validate_row(CheckpointConfig, lookup={"tenant_id": tenant_id}, values=values)


@transaction.atomic
def checkpoint_config_update(
    *,
    tenant: Tenant | int,
    actor: Actor,
    reason: str = "",
    now: dt.datetime | None = None,
    **values: Any,
) -> SettingsOutcome:
    """Change the tenant's checkpoint config: tightening applies, loosening is requested."""
    tenant_id = _tenant_id(tenant)
    return settings_upsert(
        tenant=tenant_id,
        setting="checkpoint_config",
        target="checkpoints",
        values=values,
        actor=actor,
        reason=reason,
        find=lambda: CheckpointConfig.objects.filter(tenant_id=tenant_id).first(),
        now=now,
    )


# --- config families ------------------------------------------------------------------------


def config_family_read(tenant_id: int, target: str) -> dict[str, Any]:
    row = ConfigFamily.objects.filter(tenant_id=tenant_id, name=target).first()
    return row_values(ConfigFamily, row, CONFIG_FAMILY_FIELDS)


def config_family_write(
    tenant_id: int, target: str, values: dict[str, Any], now: dt.datetime, actor: Actor, reason: str
) -> ConfigFamily:
    return write_row(ConfigFamily, lookup={"tenant_id": tenant_id, "name": target}, values=values)


def config_family_validate(
    tenant_id: int, target: str, values: dict[str, Any]
) -> dict[str, list[str]]:
    errors = validate_row(
        ConfigFamily, lookup={"tenant_id": tenant_id, "name": target}, values=values
    )
    if "json_schema" in values and not isinstance(values["json_schema"], dict):
        errors.setdefault("json_schema", []).append("must be a JSON Schema object")
    approvals = values.get("approvals_required")
    if approvals is not None and int(approvals) < 1:
        errors.setdefault("approvals_required", []).append("at least one approval is required")
    return errors


@transaction.atomic
def config_family_update(
    *,
    tenant: Tenant | int,
    name: str,
    actor: Actor,
    reason: str = "",
    now: dt.datetime | None = None,
    **values: Any,
) -> SettingsOutcome:
    """Change a family's approvals required or JSON schema (fewer approvals, or any other
    schema, loosen: they are requested, not applied)."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed({"name": ["required"]})
    tenant_id = _tenant_id(tenant)
    return settings_upsert(
        tenant=tenant_id,
        setting="config_family",
        target=name,
        values=values,
        actor=actor,
        reason=reason,
        find=lambda: ConfigFamily.objects.filter(tenant_id=tenant_id, name=name).first(),
        now=now,
    )
