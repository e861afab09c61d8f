"""KPI regression tripwires (seed 003): KPI events, policies and their state."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from governance.models import ConfigVersion, Tenant

__all__ = [
    "KPIEvent",
    "MetricKind",
    "RegressionAction",
    "RegressionPolicy",
    "RegressionState",
    "RegressionStatus",
    "SignificanceTest",
]


class KPIEvent(models.Model):
    """One business outcome: a success flag or a value. Append-only; every evaluation reads
    the newest rows of one (tenant, domain, metric) through ``kpi_window_idx``."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    domain = models.CharField(max_length=64)
    metric = models.CharField(max_length=64)
    success = models.BooleanField(null=True, blank=True)
    value = models.FloatField(null=True, blank=True)
    event_id = models.CharField(
        max_length=64, null=True, blank=True, help_text="Optional client id for de-duplication."
    )
    actor = models.CharField(max_length=64, blank=True, default="")
    config_version = models.ForeignKey(
        ConfigVersion,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        help_text="The config version that produced the outcome (a rollout's cohort).",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "KPI event"
        indexes = [
            models.Index(
                fields=["tenant", "domain", "metric", "created_at", "id"], name="kpi_window_idx"
            ),
            models.Index(
                fields=["tenant", "domain", "metric", "config_version", "created_at"],
                name="kpi_version_idx",
                condition=Q(config_version__isnull=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "event_id"],
                condition=Q(event_id__isnull=False),
                name="kpi_unique_event_id",
            ),
            models.CheckConstraint(
                condition=Q(success__isnull=False, value__isnull=True)
                | Q(success__isnull=True, value__isnull=False),
                name="kpi_success_xor_value",
            ),
        ]

    def __str__(self) -> str:
        outcome = self.value if self.success is None else ("ok" if self.success else "failed")
        return f"{self.domain}.{self.metric} {outcome}"


class RegressionAction(models.TextChoices):
    THROTTLE = "THROTTLE"
    KILL_SWITCH = "KILL_SWITCH"
    ROLLBACK = "ROLLBACK"
    NOTIFY = "NOTIFY"


class MetricKind(models.TextChoices):
    SUCCESS = "success", "success share (two-proportion test)"
    VALUE = "value", "mean value (Welch t-test)"


class SignificanceTest(models.TextChoices):
    """The test behind ``significance_level`` for value metrics (success metrics always use
    the two-proportion z-test)."""

    T_TEST = "t_test", "Welch t-test (means)"
    MANN_WHITNEY = "mann_whitney", "Mann-Whitney U (ranks; robust to outliers and skew)"


class RegressionPolicy(models.Model):
    """When the recent window of a KPI drops too far below its baseline, fire one
    pre-declared action. ``tiers`` adds escalation steps above the base tier
    (``max_drop_fraction`` -> ``action``): ``[{"min_drop": 0.4, "action": "KILL_SWITCH"}]``."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    domain = models.CharField(max_length=64)
    metric = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=MetricKind.choices, default=MetricKind.SUCCESS)
    enabled = models.BooleanField(default=False)
    window_events = models.PositiveIntegerField(
        default=50, validators=[MinValueValidator(1), MaxValueValidator(100_000)]
    )
    baseline_events = models.PositiveIntegerField(
        default=200, validators=[MinValueValidator(1), MaxValueValidator(1_000_000)]
    )
    window_days = models.PositiveIntegerField(null=True, blank=True)
    max_drop_fraction = models.FloatField(
        default=0.2, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    action = models.CharField(
        max_length=16, choices=RegressionAction.choices, default=RegressionAction.THROTTLE
    )
    rollback_family = models.SlugField(max_length=64, blank=True, default="")
    significance_level = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="When set, a breach also needs a one-sided p-value below this level.",
    )
    significance_test = models.CharField(
        max_length=16, choices=SignificanceTest.choices, default=SignificanceTest.T_TEST
    )
    tiers = models.JSONField(default=list, blank=True)
    consecutive_breaches = models.PositiveIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    changed_by = models.CharField(max_length=200, blank=True, default="")
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "regression policies"
        ordering = ["tenant_id", "domain", "metric"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "domain", "metric"], name="regressionpolicy_unique_metric"
            )
        ]

    def __str__(self) -> str:
        return f"{self.domain}.{self.metric}"

    def clean(self) -> None:
        if (
            self.significance_test == SignificanceTest.MANN_WHITNEY
            and self.kind != MetricKind.VALUE
        ):
            raise ValidationError(
                {"significance_test": "Mann-Whitney U compares values: use it with kind=value"}
            )

    def ladder(self) -> list[tuple[float, str]]:
        """(min_drop, action) from the lowest tier to the highest."""
        steps = [(self.max_drop_fraction, self.action)]
        steps += [(float(t["min_drop"]), t["action"]) for t in self.tiers or []]
        return sorted(steps, key=lambda step: step[0])


class RegressionStatus(models.TextChoices):
    PENDING = "pending", "never evaluated"
    OK = "ok"
    TRIGGERED = "triggered"
    INSUFFICIENT_DATA = "insufficient_data"


class RegressionState(models.Model):
    """The last evaluation of a policy, and whether it has fired and awaits a reviewer."""

    policy = models.OneToOneField(RegressionPolicy, on_delete=models.CASCADE, related_name="state")
    status = models.CharField(
        max_length=24, choices=RegressionStatus.choices, default=RegressionStatus.PENDING
    )
    triggered = models.BooleanField(default=False)
    baseline = models.FloatField(null=True, blank=True)
    current = models.FloatField(null=True, blank=True)
    drop = models.FloatField(null=True, blank=True)
    p_value = models.FloatField(null=True, blank=True)
    window_count = models.PositiveIntegerField(default=0)
    baseline_count = models.PositiveIntegerField(default=0)
    breach_streak = models.PositiveIntegerField(default=0)
    fired_tier = models.FloatField(
        null=True, blank=True, help_text="min_drop of the highest tier fired since the last ack."
    )
    action_taken = models.CharField(max_length=200, blank=True, default="")
    throttled = models.BooleanField(
        default=False, help_text="A THROTTLE fired since the last acknowledgement."
    )
    last_event_id = models.BigIntegerField(
        null=True, blank=True, help_text="Newest event of the last evaluated window."
    )
    evaluated_at = models.DateTimeField(null=True, blank=True)
    triggered_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.policy}: {self.status}"
