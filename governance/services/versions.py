"""Use cases of the config version registry (seed 001). Each runs in one transaction and
writes its ledger entry in it."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from governance.errors import Forbidden, TransitionConflict, ValidationFailed
from governance.kernel.authority import require_human, require_not_contributor
from governance.kernel.checkpoints import checkpoint_resolve_for_subject
from governance.kernel.kinds import LedgerKind
from governance.kernel.transitions import govern_transition
from governance.models import (
    Checkpoint,
    CheckpointPriority,
    CheckpointType,
    ConfigFamily,
    ConfigVersion,
    LedgerEntry,
    RollbackReport,
    Tenant,
    VersionApproval,
    VersionSource,
    VersionState,
)
from governance.schemas import (
    apply_structural_diff,
    schema_incompatibilities,
    structural_diff,
    three_way_diff,
    validate_payload,
)
from governance.services.checkpoints import checkpoint_open
from governance.services.ledger import Actor, ledger_append, ledger_lock, subject_of
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


def contributors_of(version: ConfigVersion) -> list[str]:
    """Everyone whose hand is in the payload (four eyes). ``created_by_label`` covers rows
    registered before contributors were recorded."""
    labels = list(version.contributors or [])
    if version.created_by_label and version.created_by_label not in labels:
        labels.insert(0, version.created_by_label)
    return labels


def _add_contributor(version: ConfigVersion, actor: Actor) -> None:
    if actor.label not in (version.contributors or []):
        version.contributors = [*(version.contributors or []), actor.label]


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
        contributors=[actor.label],
        created_at=now,
    )
    ledger_append(
        tenant=tenant,
        kind=LedgerKind.VERSION_REGISTERED,
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
    # Only the version row: locking the joined family row too would take it before the ledger
    # head, the reverse of _switch_active's order, and an approval could deadlock an activation.
    return (
        ConfigVersion.objects.select_for_update(of=("self",))
        .select_related("family")
        .get(pk=version.pk)
    )


@transaction.atomic
def version_submit(
    *, version: ConfigVersion, actor: Actor, now: dt.datetime | None = None
) -> ConfigVersion:
    """Submit for approval (a machine may). The submitter becomes a contributor: whoever
    chose to put this payload forward cannot also be the one who approves it."""
    now = now or timezone.now()
    version = govern_transition(
        obj=_lock(version),
        lock=False,
        transition="submit",
        kind=LedgerKind.VERSION_SUBMITTED,
        what="submit",
        actor=actor,
        human=False,
        kwargs={"now": now},
        payload={"family": version.family.name, "version": version.version},
        after_transition=lambda row: _add_contributor(row, actor),
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


def live_approvals(version: ConfigVersion) -> QuerySet[VersionApproval]:
    return version.approvals.filter(voided_at__isnull=True)


@transaction.atomic
def version_update_payload(
    *,
    version: ConfigVersion,
    payload: dict[str, Any],
    actor: Actor,
    now: dt.datetime | None = None,
) -> ConfigVersion:
    """Edit a version's payload. A submitted payload is frozen: editing it sends the version
    back to DRAFT and voids every approval it had collected. The editor becomes a
    contributor, so they can no longer approve it (four eyes)."""
    now = now or timezone.now()
    row = _lock(version)
    was_pending = row.state == VersionState.PENDING_APPROVAL
    voided = live_approvals(row).count() if was_pending else 0

    def validate_and_void(locked: ConfigVersion) -> None:
        errors = validate_payload(locked.family.name, payload, locked.family.json_schema or None)
        if errors:
            raise ValidationFailed(errors)
        if was_pending:
            live_approvals(locked).update(voided_at=now)

    def apply(locked: ConfigVersion) -> None:
        locked.payload = payload
        _add_contributor(locked, actor)

    row = govern_transition(
        obj=row,
        lock=False,
        transition="return_to_draft",
        kind=LedgerKind.VERSION_PAYLOAD_EDITED,
        what="edit the payload of",
        actor=actor,
        human=False,
        payload={"approvals_voided": voided},
        before_transition=validate_and_void,
        after_transition=apply,
        now=now,
    )
    if was_pending:
        checkpoint_resolve_for_subject(
            tenant=row.tenant_id,
            subject=row,
            approve=False,
            actor=actor,
            reason="payload edited: the version went back to DRAFT",
            now=now,
        )
    return row


@transaction.atomic
def version_approve(
    *, version: ConfigVersion, user: Any, reason: str, now: dt.datetime | None = None
) -> ConfigVersion:
    """Record one reviewer's approval; the version becomes APPROVED when its family's
    ``approvals_required`` distinct reviewers, none of whom contributed to its payload,
    have approved."""
    now = now or timezone.now()
    require_human(user=user, tenant_id=version.tenant_id, reason=reason, what="approval")
    row = _lock(version)
    # Four eyes before the state is looked at: a contributor learns only that they may not
    # approve it, whatever state it is in.
    require_not_contributor(user=user, contributors=contributors_of(row), what="approve")
    required = row.family.approvals_required
    existing = list(live_approvals(row).values_list("reviewer__username", flat=True))
    approvers = sorted({*existing, user.get_username()})
    complete = len(approvers) >= required

    def record(locked: ConfigVersion) -> None:
        if user.get_username() in existing:
            raise Forbidden("this reviewer has already approved this version")
        try:
            with transaction.atomic():
                VersionApproval.objects.create(
                    version=locked, reviewer=user, reason=reason.strip(), created_at=now
                )
        except IntegrityError as exc:
            raise Forbidden("this reviewer has already approved this version") from exc

    # One entry per call: the approval that completes the set is the transition itself.
    return govern_transition(
        obj=row,
        lock=False,
        transition="approve" if complete else "record_approval",
        kind=LedgerKind.VERSION_APPROVED if complete else LedgerKind.VERSION_APPROVAL_RECORDED,
        what="approve",
        user=user,
        human=True,
        reason=reason,
        kwargs={"now": now} if complete else {},
        payload={
            "family": row.family.name,
            "version": row.version,
            "approvals": len(approvers),
            "required": required,
            "approvers": approvers,
        },
        before_transition=record,
        resolve_checkpoints=True if complete else None,
        now=now,
    )


@transaction.atomic
def version_reject(
    *, version: ConfigVersion, user: Any, reason: str, now: dt.datetime | None = None
) -> ConfigVersion:
    now = now or timezone.now()
    return govern_transition(
        obj=version,
        transition="reject",
        kind=LedgerKind.VERSION_REJECTED,
        what="reject",
        user=user,
        human=True,
        reason=reason,
        kwargs={"reason": (reason or "").strip(), "now": now},
        resolve_checkpoints=False,
        now=now,
    )


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


def is_stale(version: ConfigVersion, active: ConfigVersion | None) -> bool:
    """Whether activating ``version`` would silently overwrite what ``active`` changed: its
    base is not the active version. A version with no base counts as stale while another
    version is active, because nobody can tell which of the active version's changes it saw:
    activating it could revert any of them without a word."""
    return active is not None and active.pk != version.pk and version.base_version_id != active.pk


def version_three_way(version: ConfigVersion, active: ConfigVersion | None) -> dict[str, Any]:
    """The three-way diff a reviewer needs to judge a stale version: base -> active,
    base -> proposal, and the paths both touched (no base: the proposal's base is empty)."""
    base = version.base_version
    diff = three_way_diff(
        base.payload if base is not None else {},
        active.payload if active is not None else {},
        version.payload,
    )
    return {
        "base": base.version if base is not None else None,
        "active": active.version if active is not None else None,
        "proposal": version.version,
        **diff,
    }


def _require_current(version: ConfigVersion, active: ConfigVersion | None) -> None:
    """Activation (not rollback) moves the family forward only from the active version."""
    if active is None:
        return
    if is_stale(version, active):
        base = version.base_version
        raise TransitionConflict(
            f"v{version.version} is based on "
            f"{'v' + base.version if base is not None else 'no version'}, but v{active.version} "
            "is active: activating it would undo the active version's changes. Rebase it "
            "onto the active version (a new version that needs its own approval).",
            current_state=version.state,
            code="stale_base",
            diff=version_three_way(version, active),
        )
    if parse_semver(version.version) < parse_semver(active.version):
        raise TransitionConflict(
            f"v{version.version} is lower than the active v{active.version}: a lower version "
            "activates only as a rollback",
            current_state=version.state,
            code="version_downgrade",
            active_version=active.version,
        )


def _current_active(version: ConfigVersion) -> ConfigVersion | None:
    return (
        ConfigVersion.objects.select_for_update()
        .filter(tenant_id=version.tenant_id, family_id=version.family_id, state=VersionState.ACTIVE)
        .exclude(pk=version.pk)
        .first()
    )


def _last_seq(subject: ConfigVersion) -> int | None:
    subject_type, subject_id = subject_of(subject)
    return (
        LedgerEntry.objects.filter(
            tenant_id=subject.tenant_id, subject_type=subject_type, subject_id=subject_id
        )
        .order_by("-seq")
        .values_list("seq", flat=True)
        .first()
    )


def _switch_active(
    *,
    version: ConfigVersion,
    rollback: bool,
    acknowledge_breaking: bool,
    reason: str,
    now: dt.datetime,
    user: Any = None,
    actor: Actor | None = None,
) -> ConfigVersion:
    """Make ``version`` the family's ACTIVE version: an activation by a reviewer (``user``),
    or a rollback by a reviewer or by a pre-declared automatic action (``actor``)."""
    # Lock order: the tenant's ledger head, then the family row. Callers such as a tripwire's
    # automatic rollback may already hold the head (they appended first); taking it first here
    # too means the two locks are always acquired in the same order, so no deadlock. The family
    # row serializes activations: two concurrent ones run in turn and leave exactly one ACTIVE,
    # and the second one sees the first as the active version it must be based on.
    ledger_lock(tenant_id=version.tenant_id)
    ConfigFamily.objects.select_for_update().get(pk=version.family_id)
    previous = _current_active(version)
    human = user is not None
    acting = Actor.for_user(user) if human else actor
    # Filled in on the locked row by make_room; govern_transition copies it after the hooks.
    body: dict[str, Any] = {
        "family": version.family.name,
        "version": version.version,
        "previous": previous.version if previous else None,
    }

    def make_room(row: ConfigVersion) -> None:
        if not rollback:
            _require_current(row, previous)
        warnings = activation_warnings(row, previous)
        if warnings and not acknowledge_breaking:
            raise ValidationFailed(
                {
                    "acknowledge_breaking": [
                        "activation needs an explicit acknowledgement",
                        *warnings,
                    ]
                }
            )
        body["acknowledged"] = warnings
        if previous is not None:
            # Saved before the new ACTIVE row so the one-ACTIVE constraint never sees two.
            govern_transition(
                obj=previous,
                lock=False,
                transition="supersede",
                kind=LedgerKind.VERSION_SUPERSEDED,
                what="supersede",
                actor=acting,
                human=False,
                kwargs={"now": now},
                payload={"family": row.family.name, "by": row.version},
                now=now,
            )

    def record_activator(row: ConfigVersion) -> None:
        row.activated_by_id = acting.user_id

    row = govern_transition(
        obj=_lock(version),
        lock=False,
        transition="rollback" if rollback else "activate",
        kind=LedgerKind.VERSION_ROLLED_BACK if rollback else LedgerKind.VERSION_ACTIVATED,
        what="roll back to" if rollback else "activate",
        user=user,
        actor=None if human else actor,
        human=human,
        reason=reason,
        kwargs={"now": now},
        payload=body,
        before_transition=make_room,
        after_transition=record_activator,
        now=now,
    )
    _invalidate_active_on_commit(row)
    if rollback:
        _rollback_report_write(
            version=row, previous=previous, actor=acting, reason=reason, human=human, now=now
        )
    return row


@transaction.atomic
def version_activate(
    *,
    version: ConfigVersion,
    user: Any,
    acknowledge_breaking: bool = False,
    reason: str = "",
    now: dt.datetime | None = None,
) -> ConfigVersion:
    """A reviewer activates an APPROVED version, with a reason. Refused (409) when the
    version is not based on the active one (``stale_base``, with the three-way diff) or its
    number is lower than the active one's (``version_downgrade``: that is a rollback)."""
    return _switch_active(
        version=version,
        user=user,
        rollback=False,
        acknowledge_breaking=acknowledge_breaking,
        reason=reason,
        now=now or timezone.now(),
    )


@transaction.atomic
def version_activate_by_rollout(
    *,
    version: ConfigVersion,
    actor: Actor,
    acknowledge_breaking: bool,
    reason: str,
    now: dt.datetime | None = None,
) -> ConfigVersion:
    """The last step of a guarded rollout whose plan a reviewer approved: the same
    activation (stale base, downgrade and breaking checks; the previous version SUPERSEDED),
    named after the machine that carried the approved plan out."""
    return _switch_active(
        version=version,
        actor=actor,
        rollback=False,
        acknowledge_breaking=acknowledge_breaking,
        reason=reason,
        now=now or timezone.now(),
    )


@transaction.atomic
def version_rollback(
    *,
    version: ConfigVersion,
    user: Any,
    reason: str,
    acknowledge_breaking: bool = True,
    now: dt.datetime | None = None,
) -> ConfigVersion:
    """Re-activate a version that was approved before (SUPERSEDED or DEPRECATED)."""
    return _switch_active(
        version=version,
        user=user,
        rollback=True,
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
        rollback=True,
        acknowledge_breaking=True,
        reason=reason,
        now=now or timezone.now(),
    )


@transaction.atomic
def version_deprecate(
    *, version: ConfigVersion, user: Any, reason: str, now: dt.datetime | None = None
) -> ConfigVersion:
    now = now or timezone.now()
    version = govern_transition(
        obj=version,
        transition="deprecate",
        kind=LedgerKind.VERSION_DEPRECATED,
        what="deprecate",
        user=user,
        human=True,
        reason=reason,
        kwargs={"now": now},
        payload={"family": version.family.name, "version": version.version},
        now=now,
    )
    _invalidate_active_on_commit(version)
    return version


# ---------------------------------------------------------------------------------------
# Rebase: a stale proposal's changes, replayed onto the active version


def free_version_after(*, family: ConfigFamily, start: str) -> str:
    """The next minor version after ``start`` that the family has not used."""
    taken = set(ConfigVersion.objects.filter(family=family).values_list("version", flat=True))
    candidate = next_version(start)
    while candidate in taken:
        candidate = next_version(candidate)
    return candidate


# The states of a proposal not yet decided for good: a rebase carries one forward.
REBASABLE_STATES = (VersionState.DRAFT, VersionState.PENDING_APPROVAL, VersionState.APPROVED)


@transaction.atomic
def version_rebase(
    *, version: ConfigVersion, user: Any, reason: str, now: dt.datetime | None = None
) -> ConfigVersion:
    """A reviewer replays a stale version's changes (base -> proposal) onto the active payload
    as a NEW DRAFT version based on the active one. Where both sides touched a path, the
    proposal's value wins: that is what the reviewer asked to carry forward, and the new
    version shows it in its diff and needs its own approval. The rebasing reviewer joins the
    original contributors, so none of them can approve the result. The stale version is left
    as it is (it still cannot activate)."""
    now = now or timezone.now()
    actor = require_human(user=user, tenant_id=version.tenant_id, reason=reason, what="rebase")
    # The same lock order as an activation, so the active version cannot move mid-rebase.
    ledger_lock(tenant_id=version.tenant_id)
    family = ConfigFamily.objects.select_for_update().get(pk=version.family_id)
    row = _lock(version)
    if row.state not in REBASABLE_STATES:
        raise TransitionConflict(
            f"cannot rebase {row} in state {row.state}", current_state=row.state
        )
    active = _current_active(row)
    if active is None:
        raise TransitionConflict(
            f"no {family.name} version is active: {row} has nothing to rebase onto",
            current_state=row.state,
            code="nothing_to_rebase_onto",
        )
    if not is_stale(row, active):
        raise TransitionConflict(
            f"{row} is already based on the active v{active.version}",
            current_state=row.state,
            code="not_stale",
        )
    three_way = version_three_way(row, active)
    try:
        payload = apply_structural_diff(active.payload, three_way["base_to_proposal"])
    except KeyError as exc:
        raise ValidationFailed(
            {"payload": [f"the change at {exc.args[0]} does not apply to v{active.version}"]},
            "the proposal's changes do not apply to the active version",
        ) from exc
    errors = validate_payload(family.name, payload, family.json_schema or None)
    if errors:
        raise ValidationFailed(errors, "the rebased payload is invalid")
    number = free_version_after(family=family, start=active.version)
    contributors = contributors_of(row)
    if actor.label not in contributors:
        contributors.append(actor.label)
    rebased = ConfigVersion.objects.create(
        tenant_id=row.tenant_id,
        family=family,
        version=number,
        payload=payload,
        base_version=active,
        description=f"v{row.version} rebased onto v{active.version}: {row.description}".strip(),
        changes=row.changes,
        source=row.source,
        created_by_id=actor.user_id,
        created_by_label=actor.label,
        contributors=contributors,
        created_at=now,
    )
    common = {
        "family": family.name,
        "reason": reason.strip(),
        "from": row.version,
        "onto": active.version,
        "into": number,
        "both_touched": three_way["both_touched"],
    }
    ledger_append(
        tenant=row.tenant_id,
        kind=LedgerKind.VERSION_REBASED,
        actor=actor,
        subject=row,
        payload={**common, "state": row.state},
        now=now,
    )
    ledger_append(
        tenant=row.tenant_id,
        kind=LedgerKind.VERSION_REBASED,
        actor=actor,
        subject=rebased,
        payload={
            **common,
            "state": rebased.state,
            "version": number,
            "source": rebased.source,
            "base_version": active.version,
            "contributors": contributors,
            "changes": rebased.changes,
        },
        now=now,
    )
    return rebased


# ---------------------------------------------------------------------------------------
# Rollback reports (seed 001): every rollback says what it changed, who did it and why


def _rollback_report_write(
    *,
    version: ConfigVersion,
    previous: ConfigVersion | None,
    actor: Actor,
    reason: str,
    human: bool,
    now: dt.datetime,
) -> RollbackReport:
    subjects = [version, *([previous] if previous is not None else [])]
    about = Q()
    for subject in subjects:
        subject_type, subject_id = subject_of(subject)
        about |= Q(subject_type=subject_type, subject_id=subject_id)
    report = RollbackReport.objects.create(
        tenant_id=version.tenant_id,
        family_id=version.family_id,
        rolled_back_from=previous,
        rolled_back_to=version,
        diff={
            "from": previous.version if previous is not None else None,
            "to": version.version,
            "changes": structural_diff(
                previous.payload if previous is not None else {}, version.payload
            ),
        },
        actor=actor.label,
        reason=(reason or "").strip(),
        automatic=not human,
        # The decisions behind both versions (their approval checkpoints, any rollout abort).
        checkpoint_ids=list(
            Checkpoint.objects.filter(about, tenant_id=version.tenant_id)
            .order_by("pk")
            .values_list("pk", flat=True)
        ),
        ledger_seq=_last_seq(version),
        created_at=now,
    )
    transaction.on_commit(lambda: _export_quietly(report.pk))
    return report


def rollback_report_document(report: RollbackReport) -> dict[str, Any]:
    return {
        "kind": "rollback_report",
        "id": report.pk,
        "tenant": report.tenant.slug,
        "family": report.family.name,
        "rolled_back_from": report.rolled_back_from.version if report.rolled_back_from else None,
        "rolled_back_to": report.rolled_back_to.version,
        "diff": report.diff,
        "actor": report.actor,
        "reason": report.reason,
        "automatic": report.automatic,
        "checkpoint_ids": report.checkpoint_ids,
        "ledger_seq": report.ledger_seq,
        "created_at": report.created_at.isoformat(),
    }


def rollback_report_export_name(report: RollbackReport) -> str:
    stamp = report.created_at.astimezone(dt.UTC).strftime("%Y%m%d_%H%M%S")
    return f"rollback_report_{report.family.name}_{stamp}.json"


def rollback_report_export(*, report: RollbackReport, output_dir: str | Path | None = None) -> Path:
    """Write the report beside the calibration artifacts (``GOVLOOP_ARTIFACT_DIR/<tenant>/``,
    the directory calibration's ``artifact_dir`` uses; governance cannot import it)."""
    base = Path(output_dir) if output_dir else Path(settings.GOVLOOP_ARTIFACT_DIR)
    directory = base / report.tenant.slug
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / rollback_report_export_name(report)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(rollback_report_document(report), indent=2, sort_keys=True))
    tmp.replace(path)
    return path


def _export_quietly(report_id: int) -> None:
    # The row is the record; the file is a copy. A full disk must not turn a committed
    # rollback into an error, so a failed export is logged, not raised.
    try:
        report = RollbackReport.objects.select_related(
            "tenant", "family", "rolled_back_from", "rolled_back_to"
        ).get(pk=report_id)
        rollback_report_export(report=report)
    except Exception:
        logger.exception("rollback report %s: export failed", report_id)
