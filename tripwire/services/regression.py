"""KPI regression tripwires (seed 003, SPEC 5.4): record KPI events, keep policies, evaluate
the recent window against its baseline and fire one pre-declared safe action.

Evaluation: current = success share (or mean value) of the newest ``window_events`` events;
baseline = the same over the ``baseline_events`` before them; drop = (baseline - current) /
|baseline|. A tier is breached when drop > its ``min_drop`` (and, with a significance level,
the one-sided p-value is below it: two-proportion z-test for success metrics, Welch's t-test
or Mann-Whitney U, as the policy's ``significance_test`` says, for values). The highest breached tier fires once ``consecutive_breaches`` evaluations in a row
breached. A fired policy stays triggered, and fires nothing more, until a reviewer acknowledges
it; only escalation to a strictly higher tier fires while it waits.

An evaluation counts toward ``consecutive_breaches`` only when the window has new events since
the previous evaluation, so the beat task can run twice, or concurrently (the state row is
locked; the beat skips a locked one), without counting or firing twice."""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from governance.errors import TransitionConflict, ValidationFailed
from governance.ingest import Field, IngestResult, bulk_insert, validate_rows
from governance.kernel.authority import require_human
from governance.kernel.settings import SettingsOutcome
from governance.models import CheckpointPriority, CheckpointType, ConfigVersion, Tenant
from governance.services.checkpoints import checkpoint_open, checkpoint_resolve_for_subject
from governance.services.ledger import Actor, ledger_append
from governance.services.levers import (
    go_live_engage_kill_switch,
    risk_policy_throttle,
    risk_policy_upsert,
)
from governance.services.settings import row_values, settings_upsert, validate_row, write_row
from governance.services.versions import version_rollback_family
from tripwire.models import (
    KPIEvent,
    MetricKind,
    RegressionAction,
    RegressionPolicy,
    RegressionState,
    RegressionStatus,
    SignificanceTest,
)
from tripwire.selectors import WindowStats, kpi_window_stats, kpi_window_values

MAX_BATCH = 10_000
DROP_EPSILON = 1e-9

KPI_SPEC: dict[str, Field] = {
    "domain": Field("str", required=True, max_length=64),
    "metric": Field("str", required=True, max_length=64),
    "success": Field("bool"),
    "value": Field("float", min=-1e15, max=1e15),
    "event_id": Field("str", max_length=64),
    "actor": Field("str", max_length=64, default=""),
    "config_version_id": Field("int", min=1),
    "created_at": Field("datetime"),
}

_ONE_OF = {"success": ["give exactly one of success or value"]}


def _kpi_row_check(row: dict[str, Any]) -> dict[str, list[str]]:
    if (row["success"] is None) == (row["value"] is None):
        return _ONE_OF
    return {}


def _tenant_id(tenant: Tenant | int) -> int:
    return tenant if isinstance(tenant, int) else tenant.pk


# ---------------------------------------------------------------------------------------------
# KPI events
# ---------------------------------------------------------------------------------------------


@transaction.atomic
def kpi_ingest(*, tenant: Tenant | int, items: Any, now: dt.datetime | None = None) -> IngestResult:
    """Validate a batch in one pass (all or nothing, errors by index and field) and write it
    in one statement; a repeated client ``event_id`` is stored once."""
    rows = validate_rows(items, KPI_SPEC, max_rows=MAX_BATCH, check=_kpi_row_check)
    now = now or timezone.now()
    future = {
        str(i): {"created_at": ["must not be in the future"]}
        for i, row in enumerate(rows)
        if row["created_at"] is not None and row["created_at"] > now + dt.timedelta(minutes=5)
    }
    if future:
        raise ValidationFailed({"events": future})
    _check_versions(rows, _tenant_id(tenant))
    if all(row["created_at"] is None for row in rows):
        for row in rows:
            del row["created_at"]
        constants = {"tenant_id": _tenant_id(tenant), "created_at": now}
    else:
        for row in rows:
            if row["created_at"] is None:
                row["created_at"] = now
        constants = {"tenant_id": _tenant_id(tenant)}
    return bulk_insert(KPIEvent, rows, constants=constants, dedupe=("tenant_id", "event_id"))


def _check_versions(rows: list[dict[str, Any]], tenant_id: int) -> None:
    """A KPI event may name only its own tenant's config versions (one query per batch)."""
    named = {row["config_version_id"] for row in rows} - {None}
    if not named:
        return
    known = set(
        ConfigVersion.objects.filter(pk__in=named, tenant_id=tenant_id).values_list("pk", flat=True)
    )
    unknown = {
        str(i): {"config_version_id": ["no such config version"]}
        for i, row in enumerate(rows)
        if row["config_version_id"] is not None and row["config_version_id"] not in known
    }
    if unknown:
        raise ValidationFailed({"events": unknown})


def kpi_record(
    *, tenant: Tenant | int, event: dict[str, Any], now: dt.datetime | None = None
) -> IngestResult:
    """One event: the batch path with a batch of one (same rules, same errors)."""
    try:
        return kpi_ingest(tenant=tenant, items=[event], now=now)
    except ValidationFailed as exc:
        errors = exc.errors.get("events", {})
        if isinstance(errors, dict) and "0" in errors:
            raise ValidationFailed(errors["0"]) from exc
        raise


# ---------------------------------------------------------------------------------------------
# Policies
# ---------------------------------------------------------------------------------------------

POLICY_FIELDS = (
    "kind",
    "enabled",
    "window_events",
    "baseline_events",
    "window_days",
    "max_drop_fraction",
    "action",
    "rollback_family",
    "significance_level",
    "significance_test",
    "tiers",
    "consecutive_breaches",
)


def _validate_ladder(policy: RegressionPolicy) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    tiers = policy.tiers
    if not isinstance(tiers, list):
        return {"tiers": ["must be a list of {min_drop, action}"]}
    messages = []
    for index, tier in enumerate(tiers):
        if not isinstance(tier, dict) or set(tier) != {"min_drop", "action"}:
            messages.append(f"tier {index}: needs exactly min_drop and action")
            continue
        drop, action = tier["min_drop"], tier["action"]
        if isinstance(drop, bool) or not isinstance(drop, int | float) or not 0 < drop <= 1:
            messages.append(f"tier {index}: min_drop must be a number in (0, 1]")
        elif drop <= policy.max_drop_fraction:
            messages.append(
                f"tier {index}: min_drop must be above max_drop_fraction "
                f"({policy.max_drop_fraction}), the base tier"
            )
        if action not in RegressionAction.values:
            messages.append(f"tier {index}: action must be one of {RegressionAction.values}")
    drops = [t.get("min_drop") for t in tiers if isinstance(t, dict)]
    if len(set(map(str, drops))) != len(drops):
        messages.append("two tiers share a min_drop")
    if messages:
        errors["tiers"] = messages
    actions = {policy.action} | {t.get("action") for t in tiers if isinstance(t, dict)}
    if RegressionAction.ROLLBACK in actions and not policy.rollback_family:
        errors["rollback_family"] = ["a ROLLBACK action needs the config family to roll back"]
    return errors


def regression_policy_target(domain: str, metric: str) -> str:
    """The settings target of a policy: ``WHOLESALE.contract_rate`` (a domain has no dot)."""
    return f"{domain}.{metric}"


def _split_target(target: str) -> tuple[str, str]:
    domain, _, metric = target.partition(".")
    return domain, metric


def regression_policy_read(tenant_id: int, target: str) -> dict[str, Any]:
    domain, metric = _split_target(target)
    row = RegressionPolicy.objects.filter(tenant_id=tenant_id, domain=domain, metric=metric).first()
    return row_values(RegressionPolicy, row, POLICY_FIELDS)


def regression_policy_is_new(tenant_id: int, target: str) -> bool:
    domain, metric = _split_target(target)
    return not RegressionPolicy.objects.filter(
        tenant_id=tenant_id, domain=domain, metric=metric
    ).exists()


def regression_policy_validate(
    tenant_id: int, target: str, values: dict[str, Any]
) -> dict[str, list[str]]:
    domain, metric = _split_target(target)
    lookup = {"tenant_id": tenant_id, "domain": domain, "metric": metric}
    errors = validate_row(RegressionPolicy, lookup=lookup, values=values)
    if errors:
        return errors
    policy = RegressionPolicy.objects.filter(**lookup).first() or RegressionPolicy(**lookup)
    for name, value in values.items():
        setattr(policy, name, value)
    return _validate_ladder(policy)


def regression_policy_write(
    tenant_id: int,
    target: str,
    values: dict[str, Any],
    now: dt.datetime,
    actor: Actor,
    reason: str,
) -> RegressionPolicy:
    domain, metric = _split_target(target)
    lookup = {"tenant_id": tenant_id, "domain": domain, "metric": metric}
    policy = write_row(
        RegressionPolicy,
        lookup=lookup,
        values=values,
        extra={"changed_by": actor.label, "changed_at": now},
    )
    state, created = RegressionState.objects.get_or_create(policy=policy)
    if not created:
        # New thresholds: the next evaluation must look again even without new events.
        RegressionState.objects.filter(pk=state.pk).update(last_event_id=None)
    return policy


@transaction.atomic
def regression_policy_upsert(
    *,
    tenant: Tenant | int,
    domain: str,
    metric: str,
    actor: Actor,
    reason: str = "",
    now: dt.datetime | None = None,
    **values: Any,
) -> SettingsOutcome:
    """Create a policy (defaults for what is not given) or change the given fields, governed
    like a config: enabling the tripwire, a lower max drop or a stronger action apply at once
    (by a machine too); disabling it, a higher max drop or a weaker action is a change request
    that a second reviewer approves (``tripwire.settings_kinds`` says which way each field
    loosens). ``actor`` is the authenticated identity: no client-supplied name is recorded."""
    errors = {}
    if not domain or "." in domain:
        errors["domain"] = ["required, without a dot"]
    if not metric:
        errors["metric"] = ["required"]
    if errors:
        raise ValidationFailed(errors)
    if "tiers" in values and values["tiers"] is None:
        values["tiers"] = []
    tenant_id = _tenant_id(tenant)
    return settings_upsert(
        tenant=tenant_id,
        setting="regression_policy",
        target=regression_policy_target(domain, metric),
        values=values,
        actor=actor,
        reason=reason,
        find=lambda: RegressionPolicy.objects.filter(
            tenant_id=tenant_id, domain=domain, metric=metric
        ).first(),
        now=now,
    )


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    baseline: float
    current: float
    drop: float
    p_value: float | None


def _drop(baseline: float, current: float) -> float:
    if baseline == 0:
        return 0.0 if current >= 0 else math.inf
    return (baseline - current) / abs(baseline)


def _variance(n: int, total: float, sumsq: float) -> float:
    return max((sumsq - total * total / n) / (n - 1), 0.0)


def mann_whitney_p_value(*, current: list[float], baseline: list[float]) -> float | None:
    """One-sided Mann-Whitney U: do current values tend to be lower than the baseline's?
    Ties (and a constant window) are handled by scipy's tie correction; an all-equal sample
    pair has no evidence either way (p = 1)."""
    if len(current) < 1 or len(baseline) < 1:
        return None
    if len(set(current) | set(baseline)) == 1:
        return 1.0
    # scipy.stats takes seconds to import; only a policy with a significance level needs it.
    from scipy import stats

    result = stats.mannwhitneyu(current, baseline, alternative="less", method="asymptotic")
    p = float(result.pvalue)
    return None if math.isnan(p) else p


def _p_value(
    kind: str, w: WindowStats, ranks: tuple[list[float], list[float]] | None = None
) -> float | None:
    """One-sided: is the current window worse than the baseline? ``ranks`` (the current and
    baseline values) selects Mann-Whitney U for a value metric."""
    if ranks is not None and kind == MetricKind.VALUE:
        return mann_whitney_p_value(current=ranks[0], baseline=ranks[1])
    from scipy import stats

    n1, n2 = w.n_current, w.n_baseline
    if kind == MetricKind.SUCCESS:
        p1, p2 = w.sum_current / n1, w.sum_baseline / n2
        pooled = (w.sum_current + w.sum_baseline) / (n1 + n2)
        se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        if se == 0:
            return 1.0 if p1 >= p2 else 0.0
        return float(stats.norm.sf((p2 - p1) / se))
    if n1 < 2 or n2 < 2:
        return None
    v1 = _variance(n1, w.sum_current, w.sumsq_current)
    v2 = _variance(n2, w.sum_baseline, w.sumsq_baseline)
    if v1 == 0 and v2 == 0:
        return 1.0 if w.sum_current / n1 >= w.sum_baseline / n2 else 0.0
    result = stats.ttest_ind_from_stats(
        mean1=w.sum_baseline / n2,
        std1=math.sqrt(v2),
        nobs1=n2,
        mean2=w.sum_current / n1,
        std2=math.sqrt(v1),
        nobs2=n1,
        equal_var=False,
        alternative="greater",
    )
    p = float(result.pvalue)
    return None if math.isnan(p) else p


def measure(
    *,
    kind: str,
    window: WindowStats,
    significance: bool,
    ranks: tuple[list[float], list[float]] | None = None,
) -> Measurement:
    current = window.sum_current / window.n_current
    baseline = window.sum_baseline / window.n_baseline
    return Measurement(
        baseline=baseline,
        current=current,
        drop=_drop(baseline, current),
        p_value=_p_value(kind, window, ranks) if significance else None,
    )


def _rank_sample(
    policy: RegressionPolicy, window: WindowStats, now: dt.datetime
) -> tuple[list[float], list[float]] | None:
    """The window's values when the policy tests a value metric with Mann-Whitney U: one more
    statement bounded by the window, read only when a p-value is needed."""
    if (
        policy.significance_level is None
        or policy.kind != MetricKind.VALUE
        or policy.significance_test != SignificanceTest.MANN_WHITNEY
    ):
        return None
    return kpi_window_values(
        tenant_id=policy.tenant_id,
        domain=policy.domain,
        metric=policy.metric,
        kind=policy.kind,
        window=policy.window_events,
        baseline=policy.baseline_events,
        until=now,
        since=now - dt.timedelta(days=policy.window_days) if policy.window_days else None,
        newest_id=window.newest_id,
    )


def _breached_tier(policy: RegressionPolicy, m: Measurement) -> tuple[float, str] | None:
    if policy.significance_level is not None and (
        m.p_value is None or m.p_value >= policy.significance_level
    ):
        return None
    # A drop equal to a threshold does not breach it; the epsilon keeps float noise in a rate
    # (0.19999999999999998 vs 0.2) from deciding a boundary case either way.
    breached = [step for step in policy.ladder() if m.drop > step[0] + DROP_EPSILON]
    return breached[-1] if breached else None


def _fire(policy: RegressionPolicy, action: str, measurement: Measurement, now: dt.datetime) -> str:
    """Run the pre-declared action; returns what was done, for the state and the ledger."""
    actor = Actor.system("tripwire")
    reason = (
        f"regression tripwire {policy.domain}.{policy.metric}: drop {measurement.drop:.1%} "
        f"(baseline {measurement.baseline:.4g}, current {measurement.current:.4g})"
    )
    tenant_id = policy.tenant_id
    if action == RegressionAction.THROTTLE:
        risk_policy_throttle(
            tenant=tenant_id, engine=policy.domain, actor=actor, reason=reason, now=now
        )
        return f"THROTTLE: risk policy {policy.domain} disabled"
    if action == RegressionAction.KILL_SWITCH:
        try:
            go_live_engage_kill_switch(tenant=tenant_id, actor=actor, reason=reason, now=now)
        except TransitionConflict:
            return "KILL_SWITCH: already engaged"
        return "KILL_SWITCH: engaged"
    if action == RegressionAction.ROLLBACK:
        try:
            version = version_rollback_family(
                tenant=tenant_id, family=policy.rollback_family, actor=actor, reason=reason, now=now
            )
        except (TransitionConflict, ValidationFailed) as exc:
            return f"ROLLBACK: refused ({exc.message})"
        if version is None:
            return f"ROLLBACK: no previous approved {policy.rollback_family} version"
        return f"ROLLBACK: {policy.rollback_family} v{version.version} re-activated"
    return "NOTIFY: checkpoint opened"


STATE_FIELDS = [
    "status",
    "triggered",
    "baseline",
    "current",
    "drop",
    "p_value",
    "window_count",
    "baseline_count",
    "breach_streak",
    "evaluated_at",
    "last_event_id",
]


@dataclass
class Assessment:
    """What one evaluation concludes: the state's new numbers and the tier to fire, if any."""

    fields: dict[str, Any]
    measurement: Measurement | None
    fire: tuple[float, str] | None


def _read_window(
    policy: RegressionPolicy, now: dt.datetime, *, with_state: bool
) -> tuple[WindowStats, dict | None]:
    since = now - dt.timedelta(days=policy.window_days) if policy.window_days else None
    return kpi_window_stats(
        tenant_id=policy.tenant_id,
        domain=policy.domain,
        metric=policy.metric,
        kind=policy.kind,
        window=policy.window_events,
        baseline=policy.baseline_events,
        until=now,
        since=since,
        state_of_policy=policy.pk if with_state else None,
    )


def _assess(
    state: RegressionState, policy: RegressionPolicy, window: WindowStats, now: dt.datetime
) -> Assessment:
    w, b = policy.window_events, policy.baseline_events
    # Only a window with new events counts toward consecutive breaches (a repeated run of the
    # beat must not count twice); a time-bounded window moves with the clock, so it always does.
    fresh = window.newest_id != state.last_event_id or bool(policy.window_days)
    fields: dict[str, Any] = {
        "evaluated_at": now,
        "last_event_id": window.newest_id,
        "window_count": window.n_current,
        "baseline_count": window.n_baseline,
        "triggered": state.triggered,
    }
    if window.n_current < w or window.n_baseline < b:
        fields.update(baseline=None, current=None, drop=None, p_value=None, breach_streak=0)
        fields["status"] = (
            RegressionStatus.TRIGGERED if state.triggered else RegressionStatus.INSUFFICIENT_DATA
        )
        return Assessment(fields=fields, measurement=None, fire=None)
    m = measure(
        kind=policy.kind,
        window=window,
        significance=policy.significance_level is not None,
        ranks=_rank_sample(policy, window, now),
    )
    tier = _breached_tier(policy, m)
    streak = 0 if tier is None else state.breach_streak + (1 if fresh else 0)
    fire = (
        tier
        if (
            policy.enabled
            and tier is not None
            and fresh
            and streak >= policy.consecutive_breaches
            and (not state.triggered or tier[0] > (state.fired_tier or -1.0))
        )
        else None
    )
    fields.update(
        baseline=m.baseline,
        current=m.current,
        drop=None if math.isinf(m.drop) else m.drop,
        p_value=m.p_value,
        breach_streak=streak,
        status=RegressionStatus.TRIGGERED if state.triggered else RegressionStatus.OK,
    )
    return Assessment(fields=fields, measurement=m, fire=fire)


def _apply(state: RegressionState, fields: dict[str, Any]) -> RegressionState:
    for name, value in fields.items():
        setattr(state, name, value)
    return state


def _state_from_row(row: dict[str, Any], policy: RegressionPolicy) -> RegressionState:
    values = {}
    for name, value in row.items():
        field = RegressionState._meta.get_field(
            name if name != "acknowledged_by_id" else "acknowledged_by"
        )
        if value is not None and field.get_internal_type() == "DateTimeField":
            value = field.to_python(value)
            if timezone.is_naive(value):
                value = value.replace(tzinfo=dt.UTC)
        elif value is not None and field.get_internal_type() == "BooleanField":
            value = bool(value)
        values[name] = value
    return RegressionState(policy=policy, **values)


@functools.cache
def _optimistic_update_sql() -> str:
    """UPDATE the state only if no other evaluation or acknowledgement changed it since it
    was read (compare-and-set on the fields that decide firing)."""
    sets = ", ".join(f'"{name}" = %s' for name in STATE_FIELDS)
    guards = " AND ".join(
        f'("{c}" = %s OR ("{c}" IS NULL AND %s IS NULL))' for c in ("fired_tier", "last_event_id")
    )
    return (
        f'UPDATE "{RegressionState._meta.db_table}" SET {sets} '
        f"WHERE id = %s AND triggered = %s AND breach_streak = %s AND {guards}"
    )


def regression_evaluate(
    *,
    policy: RegressionPolicy | int,
    now: dt.datetime | None = None,
    requested_by: Actor | None = None,
    skip_locked: bool = False,
) -> RegressionState | None:
    """Evaluate one policy (enabled or not: a disabled policy is measured but never fires).
    Returns its state, or None when ``skip_locked`` and another evaluation holds it.

    The common outcome (nothing fires) costs two statements: one read of the window's
    statistics together with the state, and one compare-and-set UPDATE that succeeds only if
    nobody changed the state in between. Otherwise, and whenever an action fires, the
    evaluation runs again under the state row's lock, so an action fires once however many
    evaluations race."""
    now = now or timezone.now()
    if isinstance(policy, int):
        policy = RegressionPolicy.objects.get(pk=policy)
    window, row = _read_window(policy, now, with_state=True)
    if row is not None:
        state = _state_from_row(row, policy)
        outcome = _assess(state, policy, window, now)
        if outcome.fire is None:
            params = [outcome.fields[name] for name in STATE_FIELDS]
            params += [state.pk, state.triggered, state.breach_streak]
            params += [state.fired_tier, state.fired_tier, state.last_event_id, state.last_event_id]
            with connection.cursor() as cursor:
                cursor.execute(_optimistic_update_sql(), params)
                if cursor.rowcount == 1:
                    return _apply(state, outcome.fields)
    return _evaluate_locked(policy.pk, now, requested_by, skip_locked)


def _lock_state(policy_id: int, skip_locked: bool) -> RegressionState | None:
    query = RegressionState.objects.select_for_update(skip_locked=skip_locked, of=("self",))
    state = query.select_related("policy").filter(policy_id=policy_id).first()
    if state is None and not RegressionState.objects.filter(policy_id=policy_id).exists():
        RegressionState.objects.get_or_create(policy_id=policy_id)
        state = query.select_related("policy").filter(policy_id=policy_id).first()
    return state


@transaction.atomic
def _evaluate_locked(
    policy_id: int, now: dt.datetime, requested_by: Actor | None, skip_locked: bool
) -> RegressionState | None:
    state = _lock_state(policy_id, skip_locked)
    if state is None:
        return None
    policy = state.policy
    window, _ = _read_window(policy, now, with_state=False)
    outcome = _assess(state, policy, window, now)
    _apply(state, outcome.fields)
    update_fields = list(STATE_FIELDS)
    if outcome.fire is not None:
        tier, m = outcome.fire, outcome.measurement
        action_taken = _fire(policy, tier[1], m, now)
        state.triggered, state.triggered_at, state.fired_tier = True, now, tier[0]
        state.status = RegressionStatus.TRIGGERED
        state.action_taken = action_taken
        state.throttled = state.throttled or tier[1] == RegressionAction.THROTTLE
        state.acknowledged_by, state.acknowledged_at = None, None
        update_fields += [
            "triggered_at",
            "fired_tier",
            "action_taken",
            "throttled",
            "acknowledged_by",
            "acknowledged_at",
        ]
        ledger_append(
            tenant=policy.tenant_id,
            kind="tripwire.triggered",
            actor=Actor.system("tripwire"),
            subject=policy,
            payload={
                "domain": policy.domain,
                "metric": policy.metric,
                "baseline": m.baseline,
                "current": m.current,
                "drop": state.drop,
                "p_value": m.p_value,
                "tier": {"min_drop": tier[0], "action": tier[1]},
                "action_taken": action_taken,
                "requested_by": requested_by.label if requested_by else "system:beat",
            },
            now=now,
        )
        checkpoint_open(
            tenant=policy.tenant,
            checkpoint_type=CheckpointType.TRIPWIRE_TRIGGERED,
            description=(
                f"Tripwire {policy.domain}.{policy.metric} fired {tier[1]}: drop "
                f"{m.drop:.1%} > {tier[0]:.1%} (baseline {m.baseline:.4g}, current "
                f"{m.current:.4g}). {action_taken}. Acknowledge it to re-arm the tripwire."
            ),
            subject=policy,
            priority=CheckpointPriority.CRITICAL,
            blocking=True,
            actor=Actor.system("tripwire"),
            now=now,
        )
    state.save(update_fields=update_fields)
    return state


def regression_evaluate_enabled(*, now: dt.datetime | None = None) -> int:
    """The beat's pass over every enabled policy; a policy being evaluated elsewhere is
    skipped. Returns how many were evaluated."""
    done = 0
    for policy in RegressionPolicy.objects.filter(enabled=True).order_by("pk"):
        if regression_evaluate(policy=policy, now=now, skip_locked=True) is not None:
            done += 1
    return done


@transaction.atomic
def regression_acknowledge(
    *,
    policy: RegressionPolicy,
    user,
    reason: str,
    reenable_risk_policy: bool = False,
    now: dt.datetime | None = None,
) -> RegressionState:
    """A reviewer has seen the trigger: re-arm the tripwire, resolve its checkpoint, and, only
    when asked, re-enable the risk policy the tripwire throttled."""
    actor = require_human(
        user=user, tenant_id=policy.tenant_id, reason=reason, what="acknowledging a tripwire"
    )
    reason = reason.strip()
    now = now or timezone.now()
    state = _lock_state(policy.pk, skip_locked=False)
    if not state.triggered:
        raise TransitionConflict(f"tripwire {policy} is not triggered", current_state=state.status)
    throttled = state.throttled
    state.triggered, state.breach_streak, state.fired_tier = False, 0, None
    state.throttled = False
    state.status = RegressionStatus.OK
    state.acknowledged_by, state.acknowledged_at = user, now
    state.save(
        update_fields=[
            "triggered",
            "breach_streak",
            "fired_tier",
            "throttled",
            "status",
            "acknowledged_by",
            "acknowledged_at",
        ]
    )
    resolved = checkpoint_resolve_for_subject(
        tenant=policy.tenant_id,
        subject=policy,
        approve=True,
        actor=actor,
        reason=reason,
        checkpoint_type=CheckpointType.TRIPWIRE_TRIGGERED,
        now=now,
    )
    reenabled, reenable_request = False, None
    if reenable_risk_policy and throttled:
        # Re-enabling lets the engine act again, so it loosens the risk policy: a change
        # request that a second reviewer approves, unless the policy is already enabled.
        outcome = risk_policy_upsert(
            tenant=policy.tenant_id,
            engine=policy.domain,
            actor=actor,
            reason=f"re-enable on acknowledging tripwire {policy}: {reason}",
            now=now,
            enabled=True,
        )
        reenabled = outcome.change is None
        reenable_request = outcome.change.pk if outcome.change else None
    ledger_append(
        tenant=policy.tenant_id,
        kind="tripwire.acknowledged",
        actor=actor,
        subject=policy,
        payload={
            "reason": reason,
            "action_taken": state.action_taken,
            "checkpoints_resolved": resolved,
            "risk_policy_reenabled": reenabled,
            "risk_policy_change_request": reenable_request,
        },
        now=now,
    )
    return state
