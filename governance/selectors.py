"""Reads shared by the API, the admin, services and commands."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.db.models import Model, QuerySet

from governance.models import (
    Checkpoint,
    CheckpointState,
    ConfigVersion,
    LedgerEntry,
    Tenant,
    VersionState,
)
from governance.schemas import structural_diff
from governance.services.ledger import subject_of
from governance.services.versions import active_config_cache_key

_NO_ACTIVE = "__none__"
ACTIVE_CONFIG_TTL = 300


def tenants_for_user(user) -> QuerySet[Tenant]:
    if user.is_superuser:
        return Tenant.objects.all()
    return Tenant.objects.filter(memberships__user=user)


def active_version(*, tenant_id: int, family: str) -> ConfigVersion | None:
    return (
        ConfigVersion.objects.select_related("family")
        .filter(tenant_id=tenant_id, family__name=family, state=VersionState.ACTIVE)
        .first()
    )


def active_config(*, tenant_id: int, family: str) -> dict[str, Any] | None:
    """The runtime read: ``{"id", "family", "version", "payload"}`` of the ACTIVE version, from
    the cache (invalidated on activation, rollback and deprecation) or the database."""
    key = active_config_cache_key(tenant_id, family)
    cached = cache.get(key)
    if cached == _NO_ACTIVE:
        return None
    if cached is not None:
        return cached
    version = active_version(tenant_id=tenant_id, family=family)
    if version is None:
        cache.set(key, _NO_ACTIVE, ACTIVE_CONFIG_TTL)
        return None
    value = {
        "id": version.pk,
        "family": family,
        "version": version.version,
        "payload": version.payload,
        "activated_at": version.activated_at.isoformat() if version.activated_at else None,
    }
    cache.set(key, value, ACTIVE_CONFIG_TTL)
    return value


def version_diff(*, version: ConfigVersion) -> dict[str, Any]:
    active = active_version(tenant_id=version.tenant_id, family=version.family.name)
    base = active.payload if active is not None else {}
    return {
        "against": active.version if active is not None else None,
        "changes": structural_diff(base, version.payload),
    }


def version_replaced(*, version: ConfigVersion) -> ConfigVersion | None:
    """The version that was active when ``version`` was last activated (or rolled back to),
    as its ledger entry names it; None when it never was active or replaced nothing."""
    entry = (
        ledger_for_subject(subject=version)
        .filter(kind__in=["version.activated", "version.rolled_back"])
        .order_by("-seq")
        .first()
    )
    previous = entry.payload.get("previous") if entry is not None else None
    if not previous:
        return None
    return ConfigVersion.objects.filter(
        tenant_id=version.tenant_id, family_id=version.family_id, version=previous
    ).first()


def version_review_diff(*, version: ConfigVersion) -> dict[str, Any]:
    """What a reviewer compares: a version waiting for a decision against the active one; a
    version that was activated against the version it replaced, so the record of what it
    changed stays after activation. ``relation`` says which ("active", "replaced", or "none"
    when there is nothing to compare with)."""
    if version.activated_at is not None:
        replaced = version_replaced(version=version)
        return {
            "against": replaced.version if replaced else None,
            "relation": "replaced" if replaced else "none",
            "changes": structural_diff(replaced.payload if replaced else {}, version.payload),
        }
    diff = version_diff(version=version)
    return {**diff, "relation": "active" if diff["against"] else "none"}


def ledger_for_subject(*, subject: Model) -> QuerySet[LedgerEntry]:
    subject_type, subject_id = subject_of(subject)
    return LedgerEntry.objects.filter(
        tenant_id=subject.tenant_id, subject_type=subject_type, subject_id=subject_id
    ).order_by("seq")


def checkpoint_queue(*, tenant_ids) -> QuerySet[Checkpoint]:
    return Checkpoint.objects.filter(
        tenant_id__in=tenant_ids, state=CheckpointState.PENDING
    ).order_by("priority", "created_at", "id")
