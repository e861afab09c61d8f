"""Reads shared by the API, the admin, services and commands."""

from __future__ import annotations

import time
from typing import Any

from django.db.models import Model, Q, QuerySet

from governance.models import (
    Checkpoint,
    CheckpointState,
    ConfigVersion,
    LedgerEntry,
    RollbackReport,
    Tenant,
    VersionState,
)
from governance.schemas import structural_diff
from governance.services.ledger import subject_of
from governance.services.versions import active_config_cache_key
from governance.shared_cache import cache_get, cache_set

# The runtime read's cache entries carry the time of the database read they reflect (taken
# before it) and are trusted for ACTIVE_CONFIG_FRESHNESS only. An activation, rollback or
# deprecation deletes the entry once it commits, so a change is normally visible at once;
# when that delete fails (Redis down, hung) and its retry task cannot run either, or a slow
# reader writes the old version back after the delete, no entry older than the change is
# served for longer than ACTIVE_CONFIG_FRESHNESS (same argument as GO_LIVE_FRESHNESS in
# governance.services.levers). A cache error is a miss: the read falls back to the database.
ACTIVE_CONFIG_FRESHNESS = 5.0
ACTIVE_CONFIG_TTL = 10


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
    a fresh cache entry or the database (a cache failure reads the database)."""
    key = active_config_cache_key(tenant_id, family)
    cached = cache_get(key)
    if (
        isinstance(cached, dict)
        and isinstance(cached.get("read_at"), float)
        and abs(time.time() - cached["read_at"]) < ACTIVE_CONFIG_FRESHNESS
    ):
        return cached["config"]
    read_at = time.time()  # before the read: the entry must not look newer than it is
    version = active_version(tenant_id=tenant_id, family=family)
    value = None
    if version is not None:
        value = {
            "id": version.pk,
            "family": family,
            "version": version.version,
            "payload": version.payload,
            "activated_at": version.activated_at.isoformat() if version.activated_at else None,
            "rollout": live_rollout(tenant_id=tenant_id, family=family),
        }
    cache_set(key, {"read_at": read_at, "config": value}, ACTIVE_CONFIG_TTL)
    return value


def live_rollout(*, tenant_id: int, family: str) -> dict[str, Any] | None:
    """The descriptor of a family's live split (a RUNNING or PAUSED rollout with exposure),
    enough for a client to follow it locally with ``govloop_client.split``: the rollout id,
    state, stage, exposure and the candidate's id, version and payload. None without one."""
    from governance.models import Rollout, RolloutState

    row = (
        Rollout.objects.filter(
            tenant_id=tenant_id,
            family__name=family,
            state__in=[RolloutState.RUNNING, RolloutState.PAUSED],
            percent__gt=0,
        )
        .values(
            "pk",
            "state",
            "stage_index",
            "percent",
            "candidate_id",
            "candidate__version",
            "candidate__payload",
        )
        .first()
    )
    if row is None:
        return None
    return {
        "id": row["pk"],
        "state": row["state"],
        "stage": row["stage_index"],
        "percent": row["percent"],
        "candidate": {
            "id": row["candidate_id"],
            "version": row["candidate__version"],
            "payload": row["candidate__payload"],
        },
    }


def active_config_etag(config: dict[str, Any]) -> str:
    """The entity tag of an active-config read: the version id and its activation time, and
    during a guarded rollout the rollout's id, state, stage and exposure. An ACTIVE payload is
    frozen, a rollback re-activates with a new time and a candidate's payload is frozen too,
    so the tag changes whenever the answer does; it is computed from the cached entry, so a
    revalidation that finds the entry in the cache needs no database."""
    activated_at = config.get("activated_at") or ""
    rollout = config.get("rollout")
    if not rollout:
        return f'"{config["id"]}-{activated_at}"'
    split = f"r{rollout['id']}-{rollout['state']}-{rollout['stage']}-{rollout['percent']}"
    return f'"{config["id"]}-{activated_at}-{split}"'


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


def rollback_reports_for(*, version: ConfigVersion) -> QuerySet[RollbackReport]:
    """The rollbacks that left or reached this version, newest first."""
    return RollbackReport.objects.select_related(
        "family", "rolled_back_from", "rolled_back_to"
    ).filter(Q(rolled_back_to=version) | Q(rolled_back_from=version))
