"""Model metric drift (seed 004): a baseline of metrics per calibrator model, and an alert for
each metric whose relative change from the baseline exceeds the drift threshold.

The rule: ``change = (current - baseline) / |baseline|``; a metric drifts when ``|change| >
drift_threshold_pct`` (strictly greater; 0.10 by default). So accuracy 0.82 -> 0.70 (-14.6%)
raises an alert, while 0.82 -> 0.75 (-8.5%) and precision 0.79 -> 0.72 (-8.9%) do not. A
metric whose baseline is 0 has no relative change and is reported as not comparable.

While a metric's alert is OPEN, further checks do not raise another one for it (one
acknowledgement per incident); a reviewer acknowledges it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from governance.models import Tenant

__all__ = ["DriftAlert", "DriftAlertState", "DriftBaseline"]


class DriftBaseline(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="drift_baselines")
    model_name = models.SlugField(max_length=100)
    metrics = models.JSONField(help_text='Baseline metrics, e.g. {"accuracy": 0.82}.')
    threshold_pct = models.FloatField(
        null=True,
        blank=True,
        help_text="Override of the tenant's drift_threshold_pct for this model (empty: use it).",
    )
    window_days = models.PositiveIntegerField(
        default=7, help_text="Scheduled checks measure the production model over this window."
    )
    min_samples = models.PositiveIntegerField(
        default=100, help_text="Scheduled checks skip a window with fewer pairs than this."
    )
    set_at = models.DateTimeField(default=timezone.now)
    set_by_label = models.CharField(max_length=150, blank=True, default="")
    last_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "model_name"], name="driftbase_unique_tenant_model"
            ),
            models.CheckConstraint(
                condition=Q(threshold_pct__isnull=True) | Q(threshold_pct__gt=0),
                name="driftbase_threshold_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"drift baseline of {self.model_name}"


class DriftAlertState(models.TextChoices):
    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"


class DriftAlert(ConcurrentTransitionMixin, models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="drift_alerts")
    baseline = models.ForeignKey(DriftBaseline, on_delete=models.CASCADE, related_name="alerts")
    model_name = models.SlugField(max_length=100)
    metric = models.CharField(max_length=64)
    baseline_value = models.FloatField()
    current_value = models.FloatField()
    change_pct = models.FloatField(help_text="Signed relative change (current - base) / |base|.")
    threshold_pct = models.FloatField()
    state = FSMField(default=DriftAlertState.OPEN, choices=DriftAlertState.choices, protected=True)
    created_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="acknowledged_drift_alerts",
    )
    acknowledgement_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "model_name", "metric"],
                condition=Q(state="OPEN"),
                name="driftalert_one_open_per_metric",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "state", "created_at"], name="driftalert_state_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.model_name}.{self.metric} {self.change_pct:+.1%}"

    @transition(
        field=state,
        source=DriftAlertState.OPEN,
        target=DriftAlertState.ACKNOWLEDGED,
        custom={"label": "Acknowledge", "admin": True},
    )
    def acknowledge(self, *, user, reason: str, now) -> None:
        self.acknowledged_by = user
        self.acknowledgement_reason = reason
        self.acknowledged_at = now
