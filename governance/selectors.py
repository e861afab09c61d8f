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


def active_config_etag(config: dict[str, Any]) -> str:
    """The entity tag of an active-config read: the version id and its activation time. An
    ACTIVE payload is frozen and a rollback re-activates with a new time, so the pair changes
    whenever the answer does; it is computed from the cached entry, so a revalidation that
    finds the entry in the cache needs no database."""
    activated_at = config.get("activated_at") or ""
    return f'"{config["id"]}-{activated_at}"'


def version_diff(*, version: ConfigVersion) -> dict[str, Any]:
    active = active_version(tenant_id=version.tenant_id, family=version.family.name)
    base = active.payload if active is not None else {}
    return {
        "against": active.version if active is not None else None,
        "changes": structural_diff(base, version.payload),
    }


def ledger_for_subject(*, subject: Model) -> QuerySet[LedgerEntry]:
    subject_type, subject_id = subject_of(subject)
    return LedgerEntry.objects.filter(
        tenant_id=subject.tenant_id, subject_type=subject_type, subject_id=subject_id
    ).order_by("seq")


def checkpoint_queue(*, tenant_ids) -> QuerySet[Checkpoint]:
    return Checkpoint.objects.filter(
        tenant_id__in=tenant_ids, state=CheckpointState.PENDING
    ).order_by("priority", "created_at", "id")
