"""Control levers (seed 003): go-live state and kill switch, risk guard, recommendation charter.

Go-live and policy changes are ledger entries written in the same transaction. Reservations
are recorded in ``RiskReservation`` (granted and denied alike) rather than on the ledger: the
ledger serializes appends per tenant on its head row, so one entry per reservation would make
every engine of a tenant queue behind one lock on the hottest path."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from governance.errors import DomainError, Forbidden, NotFound, TransitionConflict, ValidationFailed
from governance.kernel.authority import require_human_actor
from governance.kernel.settings import SettingsOutcome
from governance.models import (
    CharterPolicy,
    DenialReason,
    GoLiveState,
    ReservationOutcome,
    RiskDay,
    RiskPolicy,
    RiskReservation,
    SandboxTrial,
    Tenant,
)
from governance.services.ledger import Actor, ledger_append
from governance.services.settings import row_values, settings_upsert, validate_row, write_row
from governance.shared_cache import cache_get, cache_set

# ---------------------------------------------------------------------------------------------
# Go-live
# ---------------------------------------------------------------------------------------------

# The gate's truth is the database; the shared cache only saves reads, and may make a
# committed change visible sooner but never hide it. Each cached entry carries ``read_at``:
# the wall-clock time taken *before* the database read it reflects (for the write-through of
# a change: taken inside the changing transaction, before its commit). Readers trust an entry
# only while it is younger than GO_LIVE_FRESHNESS, and otherwise read the database.
#
# Why that is enough, whatever Redis does: let a change commit at time C. Any entry that shows
# the state before C came from a database statement that started before C, so its read_at is
# before C. A request arriving at T >= C + GO_LIVE_FRESHNESS finds that entry older than
# GO_LIVE_FRESHNESS, ignores it and reads the database, where a statement started after C sees
# the change. It does not matter whether the write-through after the commit failed (Redis
# refusing writes, down), whether a slow reader wrote an old state back late, or whether a
# hung Redis replays queued writes when it resumes: an old entry is recognisably old. A cache
# error or timeout is a miss (governance.shared_cache) and means "read the database"; a
# database error propagates and the middleware answers 423. Across hosts the bound is
# GO_LIVE_FRESHNESS plus how far the writing host's clock runs ahead of the reading host's:
# 1 s as long as the web hosts' clocks agree within 0.5 s (NTP keeps them within ms).
GO_LIVE_FRESHNESS = 0.5
# Redis only takes whole seconds; the entry's own read_at decides whether it is trusted.
GO_LIVE_CACHE_TTL = 1


def go_live_cache_key(tenant_id: int) -> str:
    return f"go-live:{tenant_id}"


def _tenant_id(tenant: Tenant | int) -> int:
    return tenant if isinstance(tenant, int) else tenant.pk


def _require_human(actor: Actor, what: str) -> None:
    if not actor.is_human:
        raise Forbidden(f"{what} is a human act: it needs a logged-in reviewer")


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": ["a reason is required"]})
    return reason


def _lock_go_live(tenant_id: int, now: dt.datetime) -> GoLiveState:
    state = GoLiveState.objects.select_for_update().filter(tenant_id=tenant_id).first()
    if state is None:
        try:
            with transaction.atomic():
                GoLiveState.objects.create(tenant_id=tenant_id, changed_at=now)
        except IntegrityError:
            pass  # created concurrently: lock the winner's row below
        state = GoLiveState.objects.select_for_update().get(tenant_id=tenant_id)
    return state


def _go_live_change(
    *,
    tenant: Tenant | int,
    actor: Actor,
    reason: str,
    kind: str,
    changes: dict[str, bool],
    now: dt.datetime | None,
) -> GoLiveState:
    now = now or timezone.now()
    tenant_id = _tenant_id(tenant)
    state = _lock_go_live(tenant_id, now)
    before = {field: getattr(state, field) for field in changes}
    if before == changes:
        raise TransitionConflict(
            f"go-live is already {'/'.join(f'{k}={v}' for k, v in changes.items())}",
            current_state=go_live_label(state),
        )
    for field, value in changes.items():
        setattr(state, field, value)
    state.reason, state.changed_by, state.changed_at = reason, actor.label, now
    state.save(update_fields=[*changes, "reason", "changed_by", "changed_at"])
    ledger_append(
        tenant=tenant_id,
        kind=kind,
        actor=actor,
        subject=state,
        payload={"reason": reason, "before": before, "after": changes},
        now=now,
    )
    # Write the new state through to the cache once it commits, so that the gate follows the
    # change at once. Stamped now, before the commit: a later change commits after this stamp,
    # so this entry can never outlive it (see GO_LIVE_FRESHNESS). If the write fails the
    # readers' freshness rule still makes the change visible within GO_LIVE_FRESHNESS.
    key = go_live_cache_key(tenant_id)
    value = _gate_value(
        {
            "enabled": state.enabled,
            "kill_switch_engaged": state.kill_switch_engaged,
            "reason": reason,
        },
        read_at=time.time(),
    )
    transaction.on_commit(lambda: cache_set(key, value, GO_LIVE_CACHE_TTL), robust=True)
    return state


def go_live_label(state: GoLiveState) -> str:
    if state.kill_switch_engaged:
        return "kill_switch_engaged"
    return "enabled" if state.enabled else "disabled"


@transaction.atomic
def go_live_enable(
    *, tenant: Tenant | int, actor: Actor, reason: str, now: dt.datetime | None = None
) -> GoLiveState:
    actor = require_human_actor(
        actor=actor, tenant_id=_tenant_id(tenant), reason=reason, what="enabling go-live"
    )
    return _go_live_change(
        tenant=tenant,
        actor=actor,
        reason=_require_reason(reason),
        kind="go_live.enabled",
        changes={"enabled": True},
        now=now,
    )


@transaction.atomic
def go_live_disable(
    *, tenant: Tenant | int, actor: Actor, reason: str, now: dt.datetime | None = None
) -> GoLiveState:
    # Disabling only stops production actions (tightening): a machine may do it too.
    return _go_live_change(
        tenant=tenant,
        actor=actor,
        reason=_require_reason(reason),
        kind="go_live.disabled",
        changes={"enabled": False},
        now=now,
    )


@transaction.atomic
def go_live_engage_kill_switch(
    *, tenant: Tenant | int, actor: Actor, reason: str, now: dt.datetime | None = None
) -> GoLiveState:
    """Tightening: a reviewer, a tripwire (its pre-declared safe action) or the governed
    system itself may stop production; only a reviewer releases it."""
    return _go_live_change(
        tenant=tenant,
        actor=actor,
        reason=_require_reason(reason),
        kind="go_live.kill_switch_engaged",
        changes={"kill_switch_engaged": True},
        now=now,
    )


@transaction.atomic
def go_live_release_kill_switch(
    *, tenant: Tenant | int, actor: Actor, reason: str, now: dt.datetime | None = None
) -> GoLiveState:
    actor = require_human_actor(
        actor=actor, tenant_id=_tenant_id(tenant), reason=reason, what="releasing the kill switch"
    )
    return _go_live_change(
        tenant=tenant,
        actor=actor,
        reason=_require_reason(reason),
        kind="go_live.kill_switch_released",
        changes={"kill_switch_engaged": False},
        now=now,
    )


def go_live_state(*, tenant: Tenant | int) -> GoLiveState:
    """The state as stored; an unsaved disabled default when the tenant has none yet."""
    tenant_id = _tenant_id(tenant)
    state = GoLiveState.objects.filter(tenant_id=tenant_id).first()
    return state or GoLiveState(tenant_id=tenant_id, enabled=False, changed_at=None)


def go_live_block_reason(*, tenant_id: int) -> dict[str, Any] | None:
    """The hot-path read for the middleware: None when PROD_EXEC may run, else ``{"code",
    "reason"}``. From a cached entry younger than GO_LIVE_FRESHNESS, else from the database
    (any cache failure is a miss). Raises when the database cannot be read: the caller fails
    closed."""
    key = go_live_cache_key(tenant_id)
    cached = cache_get(key)
    if not _gate_entry_fresh(cached):
        read_at = time.time()  # before the read: the entry must not look newer than it is
        row = (
            GoLiveState.objects.filter(tenant_id=tenant_id)
            .values("enabled", "kill_switch_engaged", "reason")
            .first()
        )
        cached = _gate_value(row, read_at=read_at)
        # set(), not add(): a stale entry is still present until Redis expires it. Writing
        # over a newer write-through is harmless: this entry is older and expires sooner.
        cache_set(key, cached, GO_LIVE_CACHE_TTL)
    return {"code": cached["code"], "reason": cached["reason"]} if cached["code"] else None


def _gate_entry_fresh(entry: Any) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("read_at"), float):
        return False  # a miss, a cache failure, or an entry written by an older release
    return abs(time.time() - entry["read_at"]) < GO_LIVE_FRESHNESS


def _gate_value(row: dict[str, Any] | None, *, read_at: float) -> dict[str, Any]:
    row = row or {"enabled": False, "kill_switch_engaged": False, "reason": ""}
    if row["kill_switch_engaged"]:
        code, reason = DenialReason.KILL_SWITCH.value, row["reason"]
    elif not row["enabled"]:
        code, reason = DenialReason.GO_LIVE_DISABLED.value, row["reason"]
    else:
        code, reason = "", ""
    return {"code": code, "reason": reason, "read_at": read_at}


# ---------------------------------------------------------------------------------------------
# Risk guard
# ---------------------------------------------------------------------------------------------


def _day(now: dt.datetime) -> dt.date:
    return now.astimezone(dt.UTC).date()


def normalise_engine(engine: str) -> str:
    """Engines are named exactly as the tripwire domains that throttle them (``WHOLESALE``)."""
    return (engine or "").strip()


RISK_POLICY_FIELDS = ("enabled", "max_daily_loss", "max_daily_exposure", "max_daily_actions")


def risk_policy_read(tenant_id: int, engine: str) -> dict[str, Any]:
    row = RiskPolicy.objects.filter(tenant_id=tenant_id, engine=engine).first()
    return row_values(RiskPolicy, row, RISK_POLICY_FIELDS)


def risk_policy_write(
    tenant_id: int,
    engine: str,
    values: dict[str, Any],
    now: dt.datetime,
    actor: Actor,
    reason: str,
) -> RiskPolicy:
    extra: dict[str, Any] = {"changed_by": actor.label, "changed_at": now}
    if "enabled" in values:
        extra["disabled_reason"] = "" if values["enabled"] else reason
    return write_row(
        RiskPolicy, lookup={"tenant_id": tenant_id, "engine": engine}, values=values, extra=extra
    )


def risk_policy_validate(
    tenant_id: int, engine: str, values: dict[str, Any]
) -> dict[str, list[str]]:
    if not engine:
        return {"engine": ["required"]}
    return validate_row(
        RiskPolicy, lookup={"tenant_id": tenant_id, "engine": engine}, values=values
    )


@transaction.atomic
def risk_policy_upsert(
    *,
    tenant: Tenant | int,
    engine: str,
    actor: Actor,
    reason: str = "",
    now: dt.datetime | None = None,
    **values: Any,
) -> SettingsOutcome:
    """Create or change an engine's policy, governed like a config: disabling it or lowering a
    cap applies at once (by a machine too); enabling it or raising or removing a cap lets the
    engine do more, so it is a change request a second reviewer approves."""
    tenant_id, engine = _tenant_id(tenant), normalise_engine(engine)
    return settings_upsert(
        tenant=tenant_id,
        setting="risk_policy",
        target=engine,
        values=values,
        actor=actor,
        reason=reason,
        find=lambda: RiskPolicy.objects.filter(tenant_id=tenant_id, engine=engine).first(),
        now=now,
    )


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


@transaction.atomic
def risk_policy_throttle(
    *, tenant: Tenant | int, engine: str, actor: Actor, reason: str, now: dt.datetime | None = None
) -> RiskPolicy:
    """The tripwire's THROTTLE: disable the engine's policy, creating it disabled if missing."""
    now = now or timezone.now()
    tenant_id = _tenant_id(tenant)
    engine = normalise_engine(engine)
    policy, created = RiskPolicy.objects.select_for_update().get_or_create(
        tenant_id=tenant_id, engine=engine, defaults={"enabled": False, "changed_at": now}
    )
    was_enabled = policy.enabled and not created
    policy.enabled = False
    policy.disabled_reason, policy.changed_by, policy.changed_at = reason, actor.label, now
    policy.save(update_fields=["enabled", "disabled_reason", "changed_by", "changed_at"])
    ledger_append(
        tenant=tenant_id,
        kind="risk_policy.throttled",
        actor=actor,
        subject=policy,
        payload={
            "engine": engine,
            "reason": reason,
            "created": created,
            "was_enabled": was_enabled,
        },
        now=now,
    )
    return policy


@dataclass(frozen=True)
class RiskCheck:
    """The seed's ``RiskCheckOut``."""

    ok: bool
    reason: str | None
    reservation_id: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "reason": self.reason, "reservation_id": self.reservation_id}


class RiskDenied(DomainError):
    status_code = 409
    code = "risk_denied"


def _check_caps(policy: RiskPolicy, day: RiskDay, exposure: Decimal, actions: int) -> str | None:
    if policy.max_daily_loss is not None and day.realised_loss >= policy.max_daily_loss:
        return DenialReason.LOSS_CAP
    if (
        policy.max_daily_exposure is not None
        and day.open_exposure + exposure > policy.max_daily_exposure
    ):
        return DenialReason.EXPOSURE_CAP
    if policy.max_daily_actions is not None and day.actions + actions > policy.max_daily_actions:
        return DenialReason.ACTION_CAP
    return None


def _risk_day(tenant_id: int, engine: str, day: dt.date) -> RiskDay:
    # Callers hold the engine's policy row lock, so only one of them creates the day row.
    row = RiskDay.objects.filter(tenant_id=tenant_id, engine=engine, day=day).first()
    return row or RiskDay.objects.create(tenant_id=tenant_id, engine=engine, day=day)


def risk_reserve(
    *,
    tenant: Tenant | int,
    engine: str,
    exposure: Decimal | float | int,
    actor: Actor,
    actions: int = 1,
    now: dt.datetime | None = None,
) -> RiskCheck:
    """Check go-live and every cap atomically and reserve, or record a denial (denials are
    rows too, with their reason).

    Atomicity comes from the day's running-total row (``RiskDay``): on PostgreSQL one
    statement adds the reservation to it only where the policy is enabled and every cap
    still holds (a conditional UPDATE, which PostgreSQL re-checks against the latest row
    after waiting for a concurrent writer) and inserts the reservation from what it
    returns. The row lock is held for that one statement, so concurrent reservations on an
    engine queue for microseconds and the caps are never exceeded. Elsewhere (SQLite, which
    serializes writers) the same check runs in one transaction under the policy row lock."""
    now = now or timezone.now()
    tenant_id = _tenant_id(tenant)
    engine = normalise_engine(engine)
    exposure = Decimal(str(exposure)).quantize(Decimal("0.01"))
    errors = {}
    if not engine:
        errors["engine"] = ["required"]
    if exposure < 0:
        errors["exposure"] = ["must not be negative"]
    if actions < 1:
        errors["actions"] = ["must be at least 1"]
    if errors:
        raise ValidationFailed(errors)
    request = _Reservation(tenant_id, engine, _day(now), exposure, actions, actor.label, now)
    go_live = GoLiveState.objects.filter(tenant_id=tenant_id).first()
    blocked = go_live.blocked_reason if go_live else DenialReason.GO_LIVE_DISABLED
    if blocked:
        return request.deny(blocked)
    if connection.vendor == "postgresql":
        return _reserve_conditional(request)
    return _reserve_locked(request)


@dataclass(frozen=True)
class _Reservation:
    tenant_id: int
    engine: str
    day: dt.date
    exposure: Decimal
    actions: int
    actor: str
    now: dt.datetime

    def record(self, outcome: str, reason: str = "") -> RiskReservation:
        return RiskReservation.objects.create(
            tenant_id=self.tenant_id,
            engine=self.engine,
            day=self.day,
            exposure=self.exposure,
            actions=self.actions,
            outcome=outcome,
            denial_reason=reason,
            actor=self.actor,
            created_at=self.now,
        )

    def deny(self, reason: str) -> RiskCheck:
        denied = self.record(ReservationOutcome.DENIED, str(reason))
        return RiskCheck(ok=False, reason=str(reason), reservation_id=denied.pk)


_RESERVE_SQL = f"""
WITH granted AS (
    UPDATE {RiskDay._meta.db_table} AS d
    SET open_exposure = d.open_exposure + %(exposure)s, actions = d.actions + %(actions)s
    FROM {RiskPolicy._meta.db_table} AS p
    WHERE d.tenant_id = %(tenant)s AND d.engine = %(engine)s AND d.day = %(day)s
      AND p.tenant_id = d.tenant_id AND p.engine = d.engine AND p.enabled
      AND (p.max_daily_loss IS NULL OR d.realised_loss < p.max_daily_loss)
      AND (p.max_daily_exposure IS NULL OR d.open_exposure + %(exposure)s <= p.max_daily_exposure)
      AND (p.max_daily_actions IS NULL OR d.actions + %(actions)s <= p.max_daily_actions)
    RETURNING d.id
)
INSERT INTO {RiskReservation._meta.db_table}
    (tenant_id, engine, day, exposure, actions, outcome, denial_reason, actor, created_at)
SELECT %(tenant)s, %(engine)s, %(day)s, %(exposure)s, %(actions)s, 'RESERVED', '', %(actor)s,
       %(now)s
FROM granted
RETURNING id
"""


def _reserve_conditional(r: _Reservation) -> RiskCheck:
    params = {
        "tenant": r.tenant_id,
        "engine": r.engine,
        "day": r.day,
        "exposure": r.exposure,
        "actions": r.actions,
        "actor": r.actor,
        "now": r.now,
    }
    for _attempt in range(3):
        with connection.cursor() as cursor:
            cursor.execute(_RESERVE_SQL, params)
            row = cursor.fetchone()
        if row is not None:
            return RiskCheck(ok=True, reason=None, reservation_id=row[0])
        # Not granted: say why (policy, a cap), or create the day's row and try again.
        policy = RiskPolicy.objects.filter(tenant_id=r.tenant_id, engine=r.engine).first()
        if policy is None or not policy.enabled:
            return r.deny(DenialReason.POLICY_DISABLED)
        totals = RiskDay.objects.filter(tenant_id=r.tenant_id, engine=r.engine, day=r.day).first()
        if totals is None:
            RiskDay.objects.bulk_create(
                [RiskDay(tenant_id=r.tenant_id, engine=r.engine, day=r.day)],
                ignore_conflicts=True,
            )
            continue
        reason = _check_caps(policy, totals, r.exposure, r.actions)
        if reason:
            return r.deny(reason)
        # The caps held when re-read (a concurrent settle freed room): try again.
    return r.deny(DenialReason.EXPOSURE_CAP)


@transaction.atomic
def _reserve_locked(r: _Reservation) -> RiskCheck:
    policy = (
        RiskPolicy.objects.select_for_update()
        .filter(tenant_id=r.tenant_id, engine=r.engine)
        .first()
    )
    if policy is None or not policy.enabled:
        return r.deny(DenialReason.POLICY_DISABLED)
    totals = _risk_day(r.tenant_id, r.engine, r.day)
    reason = _check_caps(policy, totals, r.exposure, r.actions)
    if reason:
        return r.deny(reason)
    RiskDay.objects.filter(pk=totals.pk).update(
        open_exposure=F("open_exposure") + r.exposure, actions=F("actions") + r.actions
    )
    granted = r.record(ReservationOutcome.RESERVED)
    return RiskCheck(ok=True, reason=None, reservation_id=granted.pk)


def risk_reserve_or_raise(**kwargs: Any) -> RiskCheck:
    """``risk_reserve`` that raises ``RiskDenied`` (409, with the reason) on a denial."""
    check = risk_reserve(**kwargs)
    if not check.ok:
        raise RiskDenied(
            f"reservation denied: {check.reason}",
            reason=check.reason,
            reservation_id=check.reservation_id,
        )
    return check


@transaction.atomic
def risk_settle(
    *,
    tenant: Tenant | int,
    reservation_id: int,
    realised_loss: Decimal | float | int,
    actor: Actor,
    now: dt.datetime | None = None,
) -> RiskReservation:
    """Record the realised loss and release the reservation's exposure (once)."""
    now = now or timezone.now()
    tenant_id = _tenant_id(tenant)
    loss = Decimal(str(realised_loss)).quantize(Decimal("0.01"))
    if loss < 0:
        raise ValidationFailed({"realised_loss": ["must not be negative (a loss is positive)"]})
    reservation = RiskReservation.objects.filter(pk=reservation_id, tenant_id=tenant_id).first()
    if reservation is None:
        raise NotFound(f"reservation {reservation_id} not found")
    # Serialize with the engine's other settlements (and, off PostgreSQL, its reservations).
    RiskPolicy.objects.select_for_update().filter(
        tenant_id=tenant_id, engine=reservation.engine
    ).first()
    reservation = RiskReservation.objects.select_for_update().get(pk=reservation.pk)
    if reservation.outcome != ReservationOutcome.RESERVED:
        raise TransitionConflict(
            f"reservation {reservation.pk} is {reservation.outcome}",
            current_state=reservation.outcome,
        )
    reservation.outcome = ReservationOutcome.SETTLED
    reservation.realised_loss, reservation.settled_at = loss, now
    reservation.save(update_fields=["outcome", "realised_loss", "settled_at"])
    RiskDay.objects.filter(
        tenant_id=tenant_id, engine=reservation.engine, day=reservation.day
    ).update(
        open_exposure=F("open_exposure") - reservation.exposure,
        realised_loss=F("realised_loss") + loss,
    )
    return reservation


def risk_ledger_for_day(*, tenant: Tenant | int, day: dt.date | None = None) -> dict[str, Any]:
    """The day's reservations: counts by outcome and by denial reason, the denied ids, and
    per-engine totals."""
    tenant_id = _tenant_id(tenant)
    day = day or _day(timezone.now())
    rows = RiskReservation.objects.filter(tenant_id=tenant_id, day=day)
    by_outcome = {o: 0 for o in ReservationOutcome.values}
    for row in rows.order_by().values("outcome").annotate(n=Count("id")):
        by_outcome[row["outcome"]] = row["n"]
    denied = rows.filter(outcome=ReservationOutcome.DENIED)
    by_reason = {
        row["denial_reason"]: row["n"]
        for row in denied.order_by().values("denial_reason").annotate(n=Count("id"))
    }
    denied_ids: dict[str, list[int]] = {}
    for pk, reason in denied.order_by("id").values_list("id", "denial_reason")[:1000]:
        denied_ids.setdefault(reason, []).append(pk)
    engines = list(
        RiskDay.objects.filter(tenant_id=tenant_id, day=day)
        .order_by("engine")
        .values("engine", "open_exposure", "realised_loss", "actions")
    )
    granted = rows.exclude(outcome=ReservationOutcome.DENIED).aggregate(
        exposure=Sum("exposure"), settled_loss=Sum("realised_loss", filter=Q(outcome="SETTLED"))
    )
    return {
        "day": day.isoformat(),
        "total": sum(by_outcome.values()),
        "by_outcome": by_outcome,
        "denial_count": by_outcome[ReservationOutcome.DENIED],
        "denials_by_reason": by_reason,
        "denied_ids": denied_ids,
        "granted_exposure": str(granted["exposure"] or Decimal(0)),
        "realised_loss": str(granted["settled_loss"] or Decimal(0)),
        "engines": [{k: _plain(v) for k, v in engine.items()} for engine in engines],
    }


# ---------------------------------------------------------------------------------------------
# Recommendation charter (the seed's Heimdall)
# ---------------------------------------------------------------------------------------------

CHARTER_FIELDS = ("min_confidence_prod", "min_sandbox_trials", "min_success_rate")


class NotProdEligible(DomainError):
    status_code = 403
    code = "not_prod_eligible"


def normalise_domain(domain: str) -> str:
    return (domain or "").strip()


def charter_policy_read(tenant_id: int, domain: str) -> dict[str, Any]:
    row = CharterPolicy.objects.filter(tenant_id=tenant_id, domain=domain).first()
    return row_values(CharterPolicy, row, CHARTER_FIELDS)


def charter_policy_write(
    tenant_id: int,
    domain: str,
    values: dict[str, Any],
    now: dt.datetime,
    actor: Actor,
    reason: str,
) -> CharterPolicy:
    return write_row(
        CharterPolicy,
        lookup={"tenant_id": tenant_id, "domain": domain},
        values=values,
        extra={"changed_by": actor.label, "changed_at": now},
    )


def charter_policy_validate(
    tenant_id: int, domain: str, values: dict[str, Any]
) -> dict[str, list[str]]:
    if not domain:
        return {"domain": ["required"]}
    return validate_row(
        CharterPolicy, lookup={"tenant_id": tenant_id, "domain": domain}, values=values
    )


@transaction.atomic
def charter_policy_upsert(
    *,
    tenant: Tenant | int,
    domain: str,
    actor: Actor,
    reason: str = "",
    now: dt.datetime | None = None,
    **values: Any,
) -> SettingsOutcome:
    """Set a domain's charter thresholds: raising one applies at once, lowering one (letting
    less proven recommendations reach production) is a change request."""
    tenant_id, domain = _tenant_id(tenant), normalise_domain(domain)
    return settings_upsert(
        tenant=tenant_id,
        setting="charter_policy",
        target=domain,
        values=values,
        actor=actor,
        reason=reason,
        find=lambda: CharterPolicy.objects.filter(tenant_id=tenant_id, domain=domain).first(),
        now=now,
    )


def sandbox_trial_record(
    *,
    tenant: Tenant | int,
    domain: str,
    success: bool,
    confidence: float | None = None,
    now: dt.datetime | None = None,
) -> SandboxTrial:
    domain = normalise_domain(domain)
    if not domain:
        raise ValidationFailed({"domain": ["required"]})
    return SandboxTrial.objects.create(
        tenant_id=_tenant_id(tenant),
        domain=domain,
        success=success,
        confidence=confidence,
        created_at=now or timezone.now(),
    )


def _trial_stats(tenant_id: int, domain: str, since: dt.datetime | None = None) -> dict[str, Any]:
    trials = SandboxTrial.objects.filter(tenant_id=tenant_id, domain=domain)
    if since is not None:
        trials = trials.filter(created_at__gte=since)
    stats = trials.aggregate(n=Count("id"), ok=Count("id", filter=Q(success=True)))
    n, ok = stats["n"], stats["ok"]
    return {"trials": n, "successes": ok, "success_rate": (ok / n) if n else None}


def heimdall_eligibility(*, tenant: Tenant | int, domain: str, confidence: float) -> dict[str, Any]:
    """Whether a recommendation of this confidence may reach production, and every unmet
    condition (``no_charter``, ``confidence``, ``sandbox_trials``, ``success_rate``)."""
    tenant_id = _tenant_id(tenant)
    domain = normalise_domain(domain)
    policy = CharterPolicy.objects.filter(tenant_id=tenant_id, domain=domain).first()
    stats = _trial_stats(tenant_id, domain)
    unmet: list[dict[str, Any]] = []
    if policy is None:
        unmet.append({"condition": "no_charter", "detail": f"no charter for domain {domain}"})
    else:
        if confidence < policy.min_confidence_prod:
            unmet.append(
                {
                    "condition": "confidence",
                    "detail": f"confidence {confidence} < min_confidence_prod "
                    f"{policy.min_confidence_prod}",
                }
            )
        if stats["trials"] < policy.min_sandbox_trials:
            unmet.append(
                {
                    "condition": "sandbox_trials",
                    "detail": f"{stats['trials']} sandbox trials < min_sandbox_trials "
                    f"{policy.min_sandbox_trials}",
                }
            )
        rate = stats["success_rate"]
        if rate is None or rate < policy.min_success_rate:
            unmet.append(
                {
                    "condition": "success_rate",
                    "detail": f"sandbox success rate {rate} < min_success_rate "
                    f"{policy.min_success_rate}",
                }
            )
    return {
        "domain": domain,
        "confidence": confidence,
        "eligible": not unmet,
        "unmet": unmet,
        **stats,
    }


def heimdall_require_prod_eligible(
    *, tenant: Tenant | int, domain: str, confidence: float
) -> dict[str, Any]:
    """Raise ``NotProdEligible`` naming the first unmet condition (all are in ``unmet``)."""
    report = heimdall_eligibility(tenant=tenant, domain=domain, confidence=confidence)
    if not report["eligible"]:
        first = report["unmet"][0]
        raise NotProdEligible(
            f"not production-eligible: {first['detail']}",
            condition=first["condition"],
            unmet=report["unmet"],
        )
    return report


def heimdall_scorecard(*, tenant: Tenant | int, now: dt.datetime | None = None) -> dict[str, Any]:
    """Today's (UTC) sandbox results per domain next to each charter's thresholds."""
    tenant_id = _tenant_id(tenant)
    now = now or timezone.now()
    start = dt.datetime.combine(_day(now), dt.time.min, tzinfo=dt.UTC)
    today = {
        row["domain"]: row
        for row in SandboxTrial.objects.filter(tenant_id=tenant_id, created_at__gte=start)
        .order_by()
        .values("domain")
        .annotate(trials=Count("id"), successes=Count("id", filter=Q(success=True)))
    }
    lifetime = {
        row["domain"]: row
        for row in SandboxTrial.objects.filter(tenant_id=tenant_id)
        .order_by()
        .values("domain")
        .annotate(trials=Count("id"), successes=Count("id", filter=Q(success=True)))
    }
    policies = {p.domain: p for p in CharterPolicy.objects.filter(tenant_id=tenant_id)}
    domains = sorted(set(policies) | set(today) | set(lifetime))
    rows = []
    for domain in domains:
        policy = policies.get(domain)
        day_row = today.get(domain, {"trials": 0, "successes": 0})
        life = lifetime.get(domain, {"trials": 0, "successes": 0})
        life_rate = life["successes"] / life["trials"] if life["trials"] else None
        rows.append(
            {
                "domain": domain,
                "trials_today": day_row["trials"],
                "successes_today": day_row["successes"],
                "success_rate_today": (
                    day_row["successes"] / day_row["trials"] if day_row["trials"] else None
                ),
                "trials_total": life["trials"],
                "success_rate_total": life_rate,
                "min_confidence_prod": policy.min_confidence_prod if policy else None,
                "min_sandbox_trials": policy.min_sandbox_trials if policy else None,
                "min_success_rate": policy.min_success_rate if policy else None,
                "prod_eligible_at_min_confidence": bool(
                    policy
                    and life["trials"] >= policy.min_sandbox_trials
                    and life_rate is not None
                    and life_rate >= policy.min_success_rate
                ),
            }
        )
    return {"day": _day(now).isoformat(), "domains": rows}
