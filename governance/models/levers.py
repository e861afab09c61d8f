"""Control levers (seed 003): go-live state, risk guard, recommendation charter (Heimdall)."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from governance.models.tenancy import Tenant

__all__ = [
    "CharterPolicy",
    "DenialReason",
    "GoLiveState",
    "ReservationOutcome",
    "RiskDay",
    "RiskPolicy",
    "RiskReservation",
    "SandboxTrial",
]

MONEY = {"max_digits": 18, "decimal_places": 2}


class GoLiveState(models.Model):
    """One row per tenant. A missing row reads as disabled: production execution is off until
    a reviewer enables it."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="go_live")
    enabled = models.BooleanField(default=False)
    kill_switch_engaged = models.BooleanField(default=False)
    reason = models.CharField(max_length=2000, blank=True, default="")
    changed_by = models.CharField(max_length=200, blank=True, default="")
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "go-live state"

    def __str__(self) -> str:
        if self.kill_switch_engaged:
            return f"{self.tenant}: KILL SWITCH ENGAGED"
        return f"{self.tenant}: {'enabled' if self.enabled else 'disabled'}"

    @property
    def blocked_reason(self) -> str | None:
        """The denial reason for production execution, or None when it may run."""
        if self.kill_switch_engaged:
            return DenialReason.KILL_SWITCH
        if not self.enabled:
            return DenialReason.GO_LIVE_DISABLED
        return None


class DenialReason(models.TextChoices):
    POLICY_DISABLED = "policy_disabled"
    GO_LIVE_DISABLED = "go_live_disabled"
    KILL_SWITCH = "kill_switch"
    EXPOSURE_CAP = "exposure_cap"
    LOSS_CAP = "loss_cap"
    ACTION_CAP = "action_cap"


class RiskPolicy(models.Model):
    """Daily caps of one engine (domain). An empty cap means no cap on that dimension."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="risk_policies")
    engine = models.CharField(max_length=64)
    enabled = models.BooleanField(default=False)
    max_daily_loss = models.DecimalField(
        **MONEY, null=True, blank=True, validators=[MinValueValidator(Decimal(0))]
    )
    max_daily_exposure = models.DecimalField(
        **MONEY, null=True, blank=True, validators=[MinValueValidator(Decimal(0))]
    )
    max_daily_actions = models.PositiveIntegerField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=2000, blank=True, default="")
    changed_by = models.CharField(max_length=200, blank=True, default="")
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "risk policies"
        ordering = ["tenant_id", "engine"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "engine"], name="riskpolicy_unique_engine")
        ]

    def __str__(self) -> str:
        return f"{self.engine} ({'enabled' if self.enabled else 'disabled'})"


class RiskDay(models.Model):
    """Running totals of one engine's UTC day, updated under the policy row's lock, so a
    reservation checks its caps in O(1) whatever the day's volume."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    engine = models.CharField(max_length=64)
    day = models.DateField()
    open_exposure = models.DecimalField(**MONEY, default=Decimal(0))
    realised_loss = models.DecimalField(**MONEY, default=Decimal(0))
    actions = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "engine", "day"], name="riskday_unique_day")
        ]

    def __str__(self) -> str:
        return f"{self.engine} {self.day}"


class ReservationOutcome(models.TextChoices):
    RESERVED = "RESERVED"
    SETTLED = "SETTLED"
    DENIED = "DENIED"


class RiskReservation(models.Model):
    """Every reservation attempt, granted or denied: this table is the record of reservations
    (the hash-chained ledger records policy changes, not each reservation, because one ledger
    append per reservation would serialize every engine of a tenant on the ledger head)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    engine = models.CharField(max_length=64)
    day = models.DateField()
    exposure = models.DecimalField(**MONEY)
    actions = models.PositiveIntegerField(default=1)
    outcome = models.CharField(max_length=16, choices=ReservationOutcome.choices)
    denial_reason = models.CharField(
        max_length=32, choices=DenialReason.choices, blank=True, default=""
    )
    realised_loss = models.DecimalField(**MONEY, null=True, blank=True)
    actor = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "day", "engine", "outcome"], name="riskres_day_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome="DENIED", denial_reason__gt="")
                | (~Q(outcome="DENIED") & Q(denial_reason="")),
                name="riskres_denial_has_reason",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.engine} {self.outcome}"


class CharterPolicy(models.Model):
    """The recommendation charter of one domain: what a recommendation needs before it may
    reach production."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="charter_policies")
    domain = models.CharField(max_length=64)
    min_confidence_prod = models.FloatField(
        default=0.8, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    min_sandbox_trials = models.PositiveIntegerField(default=20)
    min_success_rate = models.FloatField(
        default=0.8, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    changed_by = models.CharField(max_length=200, blank=True, default="")
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "recommendation charter policy"
        verbose_name_plural = "recommendation charter policies"
        ordering = ["tenant_id", "domain"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "domain"], name="charter_unique_domain")
        ]

    def __str__(self) -> str:
        return f"charter {self.domain}"


class SandboxTrial(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    domain = models.CharField(max_length=64)
    success = models.BooleanField()
    confidence = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "domain", "created_at"], name="sandboxtrial_domain_idx")
        ]

    def __str__(self) -> str:
        return f"{self.domain} trial {'ok' if self.success else 'failed'}"
