"""Use cases of model metric drift (seed 004): ``drift_set_baseline`` (the seed's
``set_baseline``), ``drift_check`` (``check_drift``), acknowledgement, and the scheduled check
of production calibrators. The rule is in ``tripwire.models.drift``."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from calibration.models import CalibratorVersion, ModelStage
from calibration.services.registry import calibrator_live_metrics, registry_config_for
from governance.errors import NotFound, ValidationFailed
from governance.kernel.kinds import LedgerKind
from governance.kernel.settings import SettingsOutcome
from governance.kernel.transitions import govern_transition
from governance.models import Tenant
from governance.services.checkpoints import (
    CheckpointQueueFull,
    checkpoint_open,
)
from governance.services.ledger import Actor, ledger_append
from governance.services.settings import row_values, settings_upsert, validate_row, write_row
from tripwire.models import DriftAlert, DriftAlertState, DriftBaseline

CHECKPOINT_TYPE = "drift_alert"
# Relative changes are compared after rounding away float noise, so a change of exactly the
# threshold (0.80 -> 0.72 at 10%) does not "exceed" it by 1e-16.
_PRECISION = 12
_MAX_CHANGE = 1e12


@dataclass(frozen=True)
class MetricChange:
    metric: str
    baseline: float
    current: float
    change_pct: float | None
    exceeded: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "baseline": self.baseline,
            "current": self.current,
            "change_pct": self.change_pct,
            "exceeded": self.exceeded,
        }


@dataclass
class DriftCheck:
    model_name: str
    threshold_pct: float
    enabled: bool
    changes: list[MetricChange] = field(default_factory=list)
    alerts: list[DriftAlert] = field(default_factory=list)


def metric_changes(
    *, baseline: dict[str, float], current: dict[str, float], threshold_pct: float
) -> list[MetricChange]:
    """Pure: the relative change of every metric present in both, and whether it exceeds."""
    changes = []
    for name in sorted(set(baseline) & set(current)):
        base, now_value = float(baseline[name]), float(current[name])
        if base == 0:
            changes.append(MetricChange(name, base, now_value, None, False))
            continue
        change = round((now_value - base) / abs(base), _PRECISION)
        if not math.isfinite(change):  # a tiny baseline against a huge value
            change = math.copysign(_MAX_CHANGE, change)
        changes.append(MetricChange(name, base, now_value, change, abs(change) > threshold_pct))
    return changes


def _metrics(field_name: str, values: Any) -> dict[str, float]:
    if not isinstance(values, dict) or not values:
        raise ValidationFailed({field_name: ["must be a non-empty object of metric -> number"]})
    clean = {}
    for name, value in values.items():
        if (
            not isinstance(name, str)
            or not name
            or len(name) > 64
            or "\x00" in name
            or isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValidationFailed({field_name: [f"{name}: must be a finite number"]})
        clean[name] = float(value)
    return clean


BASELINE_FIELDS = ("metrics", "threshold_pct", "window_days", "min_samples")


def drift_baseline_read(tenant_id: int, model_name: str) -> dict[str, Any]:
    row = DriftBaseline.objects.filter(tenant_id=tenant_id, model_name=model_name).first()
    return row_values(DriftBaseline, row, BASELINE_FIELDS)


def drift_baseline_is_new(tenant_id: int, model_name: str) -> bool:
    return not DriftBaseline.objects.filter(tenant_id=tenant_id, model_name=model_name).exists()


def drift_baseline_validate(
    tenant_id: int, model_name: str, values: dict[str, Any]
) -> dict[str, list[str]]:
    lookup = {"tenant_id": tenant_id, "model_name": model_name}
    return validate_row(DriftBaseline, lookup=lookup, values=values)


def drift_baseline_write(
    tenant_id: int,
    model_name: str,
    values: dict[str, Any],
    now: dt.datetime,
    actor: Actor,
    reason: str,
) -> DriftBaseline:
    return write_row(
        DriftBaseline,
        lookup={"tenant_id": tenant_id, "model_name": model_name},
        values=values,
        extra={"set_at": now, "set_by_label": actor.label},
    )


@transaction.atomic
def drift_set_baseline(
    *,
    tenant: Tenant | int,
    model_name: str,
    metrics: dict[str, float],
    actor: Actor,
    threshold_pct: float | None = None,
    window_days: int | None = None,
    min_samples: int | None = None,
    reason: str = "",
    now: dt.datetime | None = None,
) -> SettingsOutcome:
    """Set a model's baseline, governed like a config: a model's first baseline arms its
    detector and applies at once; replacing a baseline (a reset), a higher or new threshold
    override or clearing one loosen, so they wait for a second reviewer (``tripwire.settings_kinds``).
    ``threshold_pct`` None means the tenant's ``drift_threshold_pct``."""
    metrics = _metrics("metrics", metrics)
    if threshold_pct is not None and not threshold_pct > 0:
        raise ValidationFailed({"threshold_pct": ["must be greater than 0"]})
    values: dict[str, Any] = {"metrics": metrics, "threshold_pct": threshold_pct}
    if window_days is not None:
        values["window_days"] = window_days
    if min_samples is not None:
        values["min_samples"] = min_samples
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    return settings_upsert(
        tenant=tenant_id,
        setting="drift_baseline",
        target=model_name,
        values=values,
        actor=actor,
        reason=reason,
        find=lambda: DriftBaseline.objects.filter(
            tenant_id=tenant_id, model_name=model_name
        ).first(),
        now=now,
    )


def _threshold(baseline: DriftBaseline, config) -> float:
    return (
        baseline.threshold_pct if baseline.threshold_pct is not None else config.drift_threshold_pct
    )


@transaction.atomic
def drift_check(
    *,
    tenant: Tenant | int,
    model_name: str,
    current: dict[str, float],
    actor: Actor,
    now: dt.datetime | None = None,
) -> DriftCheck:
    """Compare current metrics with the model's baseline; raise a DriftAlert (and a HIGH
    ``drift_alert`` checkpoint) for each metric whose relative change exceeds the threshold
    and has no OPEN alert yet."""
    now = now or timezone.now()
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    current = _metrics("current", current)
    baseline = (
        DriftBaseline.objects.select_for_update()
        .filter(tenant_id=tenant_id, model_name=model_name)
        .first()
    )
    if baseline is None:
        raise NotFound(f"{model_name} has no drift baseline")
    config = registry_config_for(tenant=tenant_id)
    threshold = _threshold(baseline, config)
    check = DriftCheck(
        model_name=model_name, threshold_pct=threshold, enabled=config.enable_drift_detection
    )
    check.changes = metric_changes(
        baseline=baseline.metrics, current=current, threshold_pct=threshold
    )
    baseline.last_checked_at = now
    baseline.save(update_fields=["last_checked_at"])
    if not check.enabled:
        return check
    open_metrics = set(
        DriftAlert.objects.filter(
            tenant_id=tenant_id, model_name=model_name, state=DriftAlertState.OPEN
        ).values_list("metric", flat=True)
    )
    for change in check.changes:
        if not change.exceeded or change.metric in open_metrics:
            continue
        try:
            with transaction.atomic():
                alert = DriftAlert.objects.create(
                    tenant_id=tenant_id,
                    baseline=baseline,
                    model_name=model_name,
                    metric=change.metric,
                    baseline_value=change.baseline,
                    current_value=change.current,
                    change_pct=change.change_pct,
                    threshold_pct=threshold,
                    created_at=now,
                )
        except IntegrityError:
            continue  # a concurrent check raised this metric's alert first
        ledger_append(
            tenant=tenant_id,
            kind="drift.alert_raised",
            actor=actor,
            subject=alert,
            payload={"model": model_name, **change.as_dict(), "threshold_pct": threshold},
            now=now,
        )
        # With the queue full the alert still stands and is listed; the queue needs a human.
        with contextlib.suppress(CheckpointQueueFull):
            _open_checkpoint(tenant_id, alert, change, threshold, actor, now)
        check.alerts.append(alert)
    return check


def _open_checkpoint(
    tenant_id: int,
    alert: DriftAlert,
    change: MetricChange,
    threshold: float,
    actor: Actor,
    now: dt.datetime,
) -> None:
    checkpoint_open(
        tenant=Tenant.objects.get(pk=tenant_id),
        checkpoint_type=CHECKPOINT_TYPE,
        description=(
            f"{alert.model_name}: {change.metric} moved {change.change_pct:+.1%} from its "
            f"baseline {change.baseline:g} to {change.current:g} (threshold {threshold:.0%})"
        ),
        subject=alert,
        priority="HIGH",
        actor=actor,
        now=now,
    )


@transaction.atomic
def drift_alert_acknowledge(
    *, alert: DriftAlert, user, reason: str, now: dt.datetime | None = None
) -> DriftAlert:
    now = now or timezone.now()
    return govern_transition(
        obj=alert,
        transition="acknowledge",
        kind=LedgerKind.DRIFT_ALERT_ACKNOWLEDGED,
        what="acknowledging a drift alert",
        human=True,
        user=user,
        reason=reason,
        kwargs={"user": user, "reason": (reason or "").strip(), "now": now},
        payload={"model": alert.model_name, "metric": alert.metric},
        resolve_checkpoints=True,
        now=now,
    )


def drift_check_production_models(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Beat: for every baseline whose model has a PRODUCTION calibrator, measure that
    calibrator on the pairs of its window and check drift. One check per model; a model with
    too few recent pairs is skipped."""
    now = now or timezone.now()
    produced = CalibratorVersion.objects.filter(stage=ModelStage.PRODUCTION).values_list(
        "tenant_id", "model__name"
    )
    live = set(produced)
    checked = skipped = raised = 0
    actor = Actor.system("drift-beat")
    for baseline in DriftBaseline.objects.order_by("pk").iterator():
        if (baseline.tenant_id, baseline.model_name) not in live:
            continue
        if not registry_config_for(tenant=baseline.tenant_id).enable_drift_detection:
            continue
        current = calibrator_live_metrics(
            tenant_id=baseline.tenant_id,
            model_name=baseline.model_name,
            since=now - dt.timedelta(days=baseline.window_days),
            min_samples=baseline.min_samples,
        )
        comparable = {k: v for k, v in current.items() if k in baseline.metrics} if current else {}
        if not comparable:
            skipped += 1
            continue
        result = drift_check(
            tenant=baseline.tenant_id,
            model_name=baseline.model_name,
            current=comparable,
            actor=actor,
            now=now,
        )
        checked += 1
        raised += len(result.alerts)
    return {"checked": checked, "skipped": skipped, "alerts": raised}


def drift_alert_count(*, tenant_id: int) -> int:
    return DriftAlert.objects.filter(tenant_id=tenant_id).count()
