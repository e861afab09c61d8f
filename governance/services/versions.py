"""Use cases of the config version registry (seed 001). Each runs in one transaction and
writes its ledger entry in it."""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from governance.errors import Forbidden, TransitionConflict, ValidationFailed
from governance.models import (
    CheckpointPriority,
    CheckpointType,
    ConfigFamily,
    ConfigVersion,
    Tenant,
    VersionApproval,
    VersionSource,
    VersionState,
)
from governance.schemas import schema_incompatibilities, validate_payload
from governance.services.checkpoints import checkpoint_open, checkpoint_resolve_for_subject
from governance.services.ledger import Actor, ledger_append, ledger_lock
from governance.shared_cache import cache_delete_many

logger = logging.getLogger(__name__)

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
CACHE_INVALIDATE_RETRY_DELAY = 1


def active_config_cache_key(tenant_id: int, family: str) -> str:
    return f"active-config:{tenant_id}:{family}"


def _invalidate_active_on_commit(version: ConfigVersion) -> None:
    """Once the change commits, drop the family's cached runtime read so that every process
    serves the new ACTIVE version at once. The change is committed whatever happens here, so
    nothing may raise into the response: a failed delete is logged and retried by a task, and
    readers distrust entries older than ACTIVE_CONFIG_FRESHNESS in any case."""
    key = active_config_cache_key(version.tenant_id, version.family.name)
    transaction.on_commit(lambda: cache_invalidate_or_retry(keys=[key]), robust=True)


def cache_invalidate_or_retry(*, keys: list[str]) -> None:
    if cache_delete_many(keys):
        return
    from governance.tasks import cache_invalidate

    try:
        cache_invalidate.apply_async((keys,), countdown=CACHE_INVALIDATE_RETRY_DELAY)
    except Exception:
        # The broker is usually the same Redis: nothing more to do than to say so. The entry
        # expires by ACTIVE_CONFIG_FRESHNESS.
        logger.exception("cache invalidation of %s could not be queued for a retry", keys)


def _require_reviewer(user, what: str) -> Actor:
    if user is None or not user.is_authenticated or not user.has_perm("governance.review"):
        raise Forbidden(f"{what} is a human act: it needs a logged-in reviewer")
    return Actor.for_user(user)


def _conflict(version: ConfigVersion, action: str) -> TransitionConflict:
    return TransitionConflict(
        f"cannot {action} version {version.version} in state {version.state}",
        current_state=version.state,
    )


def parse_semver(value: str) -> tuple[int, int, int]:
    match = SEMVER.match(value or "")
    if not match:
        raise ValidationFailed({"version": ["must be a semantic version MAJOR.MINOR.PATCH"]})
    return int(match[1]), int(match[2]), int(match[3])


def next_version(version: str, part: str = "minor") -> str:
    major, minor, patch = parse_semver(version)
    if part == "major":
        return f"{major + 1}.0.0"
    if part == "patch":
        return f"{major}.{minor}.{patch + 1}"
    return f"{major}.{minor + 1}.0"


def config_family_get_or_create(*, tenant: Tenant, name: str) -> ConfigFamily:
    family, _ = ConfigFamily.objects.get_or_create(tenant=tenant, name=name)
    return family


_CHANGE_KEYS = {"description", "date", "impact", "affected_components"}


def _validate_changes(changes: list[dict[str, Any]]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(changes, list):
        return {"changes": ["must be a list"]}
    for index, change in enumerate(changes):
        where = f"changes.{index}"
        if not isinstance(change, dict):
            errors[where] = ["must be an object"]
            continue
        unknown = sorted(set(change) - _CHANGE_KEYS)
        if unknown:
            errors[where] = [f"unknown field(s): {', '.join(unknown)}"]
        if not change.get("description"):
            errors.setdefault(where, []).append("description is required")
        if change.get("impact", "non-breaking") not in ("breaking", "non-breaking"):
            errors.setdefault(where, []).append("impact must be breaking or non-breaking")
        if not isinstance(change.get("affected_components", []), list):
            errors.setdefault(where, []).append("affected_components must be a list")
    return errors


@transaction.atomic
def version_register(
    *,
    tenant: Tenant,
    family: str,
    version: str,
    payload: dict[str, Any],
    actor: Actor,
    description: str = "",
    changes: list[dict[str, Any]] | None = None,
    base_version: ConfigVersion | None = None,
    source: str = VersionSource.MANUAL,
    submit: bool = False,
    now: dt.datetime | None = None,
) -> ConfigVersion:
    now = now or timezone.now()
    family_row = config_family_get_or_create(tenant=tenant, name=family)
    errors: dict[str, list[str]] = {}
    if not SEMVER.match(version or ""):
        errors["version"] = ["must be a semantic version MAJOR.MINOR.PATCH"]
    errors.update(validate_payload(family, payload, family_row.json_schema or None))
    errors.update(_validate_changes(changes or []))
    if base_version is not None and base_version.family_id != family_row.pk:
        errors["base_version"] = ["must belong to the same family"]
    if (
        not errors
        and ConfigVersion.objects.filter(tenant=tenant, family=family_row, version=version).exists()
    ):
        errors["version"] = [f"{family} {version} already exists"]
    if errors:
        raise ValidationFailed(errors)
    created = ConfigVersion.objects.create(
        tenant=tenant,
        family=family_row,
        version=version,
        payload=payload,
        base_version=base_version,
        description=description,
        changes=changes or [],
        source=source,
        created_by_id=actor.user_id,
        created_by_label=actor.label,
        created_at=now,
    )
    ledger_append(
        tenant=tenant,
        kind="version.registered",
        actor=actor,
        subject=created,
        payload={
            "family": family,
            "version": version,
            "source": source,
            "base_version": base_version.version if base_version else None,
            "changes": changes or [],
        },
        now=now,
    )
    if submit:
        created = version_submit(version=created, actor=actor, now=now)
    return created


def _lock(version: ConfigVersion) -> ConfigVersion:
    return ConfigVersion.objects.select_for_update().select_related("family").get(pk=version.pk)


@transaction.atomic
def version_submit(
    *, version: ConfigVersion, actor: Actor, now: dt.datetime | None = None
) -> ConfigVersion:
    now = now or timezone.now()
    version = _lock(version)
    if version.state != VersionState.DRAFT:
        raise _conflict(version, "submit")
    version.submit(now=now)
    version.save()
    ledger_append(
        tenant=version.tenant_id,
        kind="version.submitted",
        actor=actor,
        subject=version,
        payload={"family": version.family.name, "version": version.version},
        now=now,
    )
    checkpoint_open(
        tenant=version.tenant,
        checkpoint_type=CheckpointType.CONFIG_APPROVAL,
        subject=version,
        description=(
            f"Approve {version.family.name} v{version.version} ({version.source}): "
            f"{version.description or 'no description'}"
        ),
        priority=CheckpointPriority.NORMAL,
        blocking=True,
        actor=actor,
        now=now,
    )
    return version


@transaction.atomic
def version_update_payload(
    *,
    version: ConfigVersion,
    payload: dict[str, Any],
    actor: Actor,
    now: dt.datetime | None = None,
) -> ConfigVersion:
    """Edit a version's payload. A submitted payload is frozen: editing it sends the version
    back to DRAFT and voids every approval it had collected."""
    now = now or timezone.now()
    version = _lock(version)
    if version.state not in (VersionState.DRAFT, VersionState.PENDING_APPROVAL):
        raise _conflict(version, "edit")
    errors = validate_payload(version.family.name, payload, version.family.json_schema or None)
    if errors:
        raise ValidationFailed(errors)
    voided = 0
    if version.state == VersionState.PENDING_APPROVAL:
        voided = version.approvals.filter(voided_at__isnull=True).update(voided_at=now)
        version.return_to_draft()
        checkpoint_resolve_for_subject(
            tenant=version.tenant_id,
            subject=version,
            approve=False,
            actor=actor,
            reason="payload edited: the version went back to DRAFT",
            now=now,
        )
    version.payload = payload
    version.save()
    ledger_append(
        tenant=version.tenant_id,
        kind="version.payload_edited",
        actor=actor,
        subject=version,
        payload={"approvals_voided": voided, "state": version.state},
        now=now,
    )
    return version


def live_approvals(version: ConfigVersion):
    return version.approvals.filter(voided_at__isnull=True)


@transaction.atomic
def version_approve(
    *, version: ConfigVersion, user, reason: str, now: dt.datetime | None = None
) -> ConfigVersion:
    """Record one reviewer's approval; the version becomes APPROVED when its family's
    ``approvals_required`` distinct reviewers, none of them its author, have approved."""
    actor = _require_reviewer(user, "approval")
    now = now or timezone.now()
    if not (reason or "").strip():
        raise ValidationFailed({"reason": ["an approval needs a reason"]})
    version = _lock(version)
    if version.state != VersionState.PENDING_APPROVAL:
        raise _conflict(version, "approve")
    if version.created_by_id is not None and version.created_by_id == user.pk:
        raise Forbidden("four eyes: the author of a version cannot approve it")
    if live_approvals(version).filter(reviewer=user).exists():
        raise Forbidden("this reviewer has already approved this version")
    try:
        with transaction.atomic():
            VersionApproval.objects.create(
                version=version, reviewer=user, reason=reason, created_at=now
            )
    except IntegrityError as exc:
        raise Forbidden("this reviewer has already approved this version") from exc
    approvers = sorted(live_approvals(version).values_list("reviewer__username", flat=True))
    required = version.family.approvals_required
    complete = len(approvers) >= required
    if complete:
        version.approve(now=now)
        version.save()
    # One entry per call: the approval that completes the set is the transition itself.
    ledger_append(
        tenant=version.tenant_id,
        kind="version.approved" if complete else "version.approval_recorded",
        actor=actor,
        subject=version,
        payload={
            "family": version.family.name,
            "version": version.version,
            "reason": reason,
            "approvals": len(approvers),
            "required": required,
            "approvers": approvers,
        },
        now=now,
    )
    if complete:
        checkpoint_resolve_for_subject(
            tenant=version.tenant_id,
            subject=version,
            approve=True,
            actor=actor,
            reason=reason,
            now=now,
        )
    return version


@transaction.atomic
def version_reject(
    *, version: ConfigVersion, user, reason: str, now: dt.datetime | None = None
) -> ConfigVersion:
    actor = _require_reviewer(user, "rejection")
    now = now or timezone.now()
    if not (reason or "").strip():
        raise ValidationFailed({"reason": ["a rejection needs a reason"]})
    version = _lock(version)
    if version.state != VersionState.PENDING_APPROVAL:
        raise _conflict(version, "reject")
    version.reject(reason=reason, now=now)
    version.save()
    ledger_append(
        tenant=version.tenant_id,
        kind="version.rejected",
        actor=actor,
        subject=version,
        payload={"reason": reason},
        now=now,
    )
    checkpoint_resolve_for_subject(
        tenant=version.tenant_id,
        subject=version,
        approve=False,
        actor=actor,
        reason=reason,
        now=now,
    )
    return version


def activation_warnings(version: ConfigVersion, active: ConfigVersion | None) -> list[str]:
    """Why activating this version needs an explicit acknowledgement (empty: it does not)."""
    warnings = [
        f"breaking change: {change.get('description', '')}"
        for change in version.changes
        if change.get("impact") == "breaking"
    ]
    if active is not None:
        warnings.extend(
            f"schema incompatible with active v{active.version}: {problem}"
            for problem in schema_incompatibilities(active.payload, version.payload)
        )
    return warnings


def _current_active(version: ConfigVersion) -> ConfigVersion | None:
    return (
        ConfigVersion.objects.select_for_update()
        .filter(tenant_id=version.tenant_id, family_id=version.family_id, state=VersionState.ACTIVE)
        .exclude(pk=version.pk)
        .first()
    )


def _switch_active(
    *,
    version: ConfigVersion,
    actor: Actor,
    kind: str,
    acknowledge_breaking: bool,
    reason: str,
    now: dt.datetime,
) -> ConfigVersion:
    # Lock order: the tenant's ledger head, then the family row. Callers such as a tripwire's
    # automatic rollback may already hold the head (they appended first); taking it first here
    # too means the two locks are always acquired in the same order, so no deadlock. The family
    # row serializes activations: two concurrent ones run in turn and leave exactly one ACTIVE.
    ledger_lock(tenant_id=version.tenant_id)
    ConfigFamily.objects.select_for_update().get(pk=version.family_id)
    version = _lock(version)
    previous = _current_active(version)
    warnings = activation_warnings(version, previous)
    if warnings and not acknowledge_breaking:
        raise ValidationFailed(
            {"acknowledge_breaking": ["activation needs an explicit acknowledgement", *warnings]}
        )
    if kind == "version.activated":
        if version.state != VersionState.APPROVED:
            raise _conflict(version, "activate")
        version.activate(now=now)
    else:
        if version.state not in (VersionState.SUPERSEDED, VersionState.DEPRECATED):
            raise _conflict(version, "roll back to")
        if version.approved_at is None:
            raise TransitionConflict(
                f"version {version.version} was never approved: rollback refused",
                current_state=version.state,
            )
        version.rollback(now=now)
    if previous is not None:
        # Saved before the new ACTIVE row so the one-ACTIVE constraint never sees two.
        previous.supersede(now=now)
        previous.save()
        ledger_append(
            tenant=previous.tenant_id,
            kind="version.superseded",
            actor=actor,
            subject=previous,
            payload={"family": version.family.name, "by": version.version},
            now=now,
        )
    version.activated_by_id = actor.user_id
    version.save()
    ledger_append(
        tenant=version.tenant_id,
        kind=kind,
        actor=actor,
        subject=version,
        payload={
            "family": version.family.name,
            "version": version.version,
            "previous": previous.version if previous else None,
            "acknowledged": warnings,
            "reason": reason,
        },
        now=now,
    )
    _invalidate_active_on_commit(version)
    return version


@transaction.atomic
def version_activate(
    *,
    version: ConfigVersion,
    user,
    acknowledge_breaking: bool = False,
    reason: str = "",
    now: dt.datetime | None = None,
) -> ConfigVersion:
    actor = _require_reviewer(user, "activation")
    return _switch_active(
        version=version,
        actor=actor,
        kind="version.activated",
        acknowledge_breaking=acknowledge_breaking,
        reason=reason,
        now=now or timezone.now(),
    )


@transaction.atomic
def version_rollback(
    *,
    version: ConfigVersion,
    user,
    reason: str,
    acknowledge_breaking: bool = True,
    now: dt.datetime | None = None,
) -> ConfigVersion:
    """Re-activate a version that was approved before (SUPERSEDED or DEPRECATED)."""
    actor = _require_reviewer(user, "rollback")
    if not (reason or "").strip():
        raise ValidationFailed({"reason": ["a rollback needs a reason"]})
    return _switch_active(
        version=version,
        actor=actor,
        kind="version.rolled_back",
        acknowledge_breaking=acknowledge_breaking,
        reason=reason,
        now=now or timezone.now(),
    )


@transaction.atomic
def version_rollback_family(
    *, tenant: Tenant | int, family: str, actor: Actor, reason: str, now: dt.datetime | None = None
) -> ConfigVersion | None:
    """The pre-declared automatic rollback (tripwires): re-activate the most recently
    deactivated approved version of the family. None when there is nothing to roll back to."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    target = (
        ConfigVersion.objects.filter(
            tenant_id=tenant_id,
            family__name=family,
            state__in=[VersionState.SUPERSEDED, VersionState.DEPRECATED],
            approved_at__isnull=False,
        )
        .order_by("-deactivated_at", "-id")
        .first()
    )
    if target is None:
        return None
    return _switch_active(
        version=target,
        actor=actor,
        kind="version.rolled_back",
        acknowledge_breaking=True,
        reason=reason,
        now=now or timezone.now(),
    )


@transaction.atomic
def version_deprecate(
    *, version: ConfigVersion, user, reason: str, now: dt.datetime | None = None
) -> ConfigVersion:
    actor = _require_reviewer(user, "deprecation")
    now = now or timezone.now()
    if not (reason or "").strip():
        raise ValidationFailed({"reason": ["a deprecation needs a reason"]})
    version = _lock(version)
    if version.state != VersionState.ACTIVE:
        raise _conflict(version, "deprecate")
    version.deprecate(now=now)
    version.save()
    ledger_append(
        tenant=version.tenant_id,
        kind="version.deprecated",
        actor=actor,
        subject=version,
        payload={"reason": reason},
        now=now,
    )
    _invalidate_active_on_commit(version)
    return version
