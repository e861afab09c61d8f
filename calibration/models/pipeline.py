"""The offline calibration pipeline (seed 001): anonymised decisions and their outcomes,
aggregate metrics snapshots, calibration reports with findings, and config proposals.

A decision holds no identifier of a person and no free text: its client id, band, tier and
flag names are short codes validated against ``CODE_PATTERN``."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models, transaction
from django.db.models import Q
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from governance.models import ConfigVersion, Tenant

__all__ = [
    "CODE_PATTERN",
    "CalibrationFinding",
    "CalibrationReport",
    "ConfigProposal",
    "Decision",
    "DecisionFlag",
    "FindingKind",
    "MetricsSnapshot",
    "ProposalStatus",
    "Severity",
]

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
code_validator = RegexValidator(CODE_PATTERN, "a short code: letters, digits, _ . : - only")


class Decision(models.Model):
    """What a runtime decided for one case. ``client_id`` is the runtime's own id for the
    decision (unique per tenant), used to report the outcome later."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="decisions")
    client_id = models.CharField(max_length=64, validators=[code_validator])
    score = models.FloatField()
    band = models.CharField(max_length=40)
    confidence = models.FloatField()
    abstained = models.BooleanField(default=False)
    escalated = models.BooleanField(default=False)
    tier = models.CharField(max_length=40, blank=True, default="")
    config_version = models.CharField(max_length=32, blank=True, default="")
    config_version_ref = models.ForeignKey(
        ConfigVersion,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        help_text="The scoring version that produced the decision (a rollout's cohort).",
    )
    decided_at = models.DateTimeField()
    was_correct = models.BooleanField(null=True, blank=True)
    outcome_at = models.DateTimeField(null=True, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "client_id"], name="decision_unique_tenant_client_id"
            ),
            models.CheckConstraint(
                condition=Q(score__gte=0) & Q(score__lte=1), name="decision_score_0_1"
            ),
            models.CheckConstraint(
                condition=Q(confidence__gte=0) & Q(confidence__lte=1),
                name="decision_confidence_0_1",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "decided_at"], name="decision_window_idx"),
            models.Index(
                fields=["tenant", "config_version_ref", "decided_at"],
                name="decision_version_idx",
                include=["was_correct"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}:{self.client_id}"


class DecisionFlag(models.Model):
    """One fired red flag of a decision. The tenant and the decision time are copied here so
    that flag frequencies over a window are one indexed GROUP BY, on SQLite as on PostgreSQL."""

    decision = models.ForeignKey(Decision, on_delete=models.CASCADE, related_name="flags")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    decided_at = models.DateTimeField()
    name = models.CharField(max_length=64, validators=[code_validator])

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["decision", "name"], name="decisionflag_unique_name")
        ]
        indexes = [
            models.Index(fields=["tenant", "decided_at", "name"], name="decisionflag_window_idx")
        ]

    def __str__(self) -> str:
        return self.name


class MetricsSnapshot(models.Model):
    """Phase 1: aggregate metrics over a window; buckets under k decisions are suppressed."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="metrics_snapshots")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    window_days = models.PositiveIntegerField()
    privacy_k = models.PositiveIntegerField()
    decision_count = models.PositiveIntegerField()
    config_version = models.CharField(
        max_length=32, blank=True, default="", help_text="ACTIVE scoring version when collected."
    )
    metrics = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        get_latest_by = "created_at"

    def __str__(self) -> str:
        return f"metrics {self.tenant_id} {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def export_name(self) -> str:
        return f"metrics_snapshot_{self.created_at:%Y%m%d_%H%M%S}.json"


class Severity(models.TextChoices):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


SEVERITY_RANK = {Severity.INFO: 0, Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3}


class FindingKind(models.TextChoices):
    BOUNDARY_CROWDING = "boundary_crowding"
    FLAG_TRIGGERING = "flag_triggering"
    CONFIDENCE_ALIGNMENT = "confidence_alignment"
    ESCALATION_PATTERN = "escalation_pattern"


class CalibrationReport(models.Model):
    """Phase 2: findings only; it changes nothing."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="calibration_reports")
    snapshot = models.ForeignKey(MetricsSnapshot, on_delete=models.PROTECT, related_name="reports")
    config_version = models.CharField(max_length=32, blank=True, default="")
    parameters = models.JSONField(default=dict, help_text="Analyzer settings used.")
    summary = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"report {self.tenant_id} {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def export_name(self) -> str:
        return f"calibration_report_{self.created_at:%Y%m%d_%H%M%S}.json"


class CalibrationFinding(models.Model):
    report = models.ForeignKey(CalibrationReport, on_delete=models.CASCADE, related_name="findings")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=32, choices=FindingKind.choices)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    title = models.CharField(max_length=200)
    numbers = models.JSONField(default=dict, help_text="The figures the finding rests on.")

    class Meta:
        ordering = ["report_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["report", "position"], name="finding_unique_position")
        ]

    def __str__(self) -> str:
        return f"[{self.severity}] {self.title}"

    @property
    def code(self) -> str:
        return f"F{self.position + 1}"


class ProposalStatus(models.TextChoices):
    PROPOSED = "PROPOSED", "proposed (a version awaits approval)"
    NOTHING_TO_PROPOSE = "NOTHING_TO_PROPOSE", "nothing to propose"


class ConfigProposal(models.Model):
    """Phase 3: at most one proposed scoring version per report, with its change summary."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="config_proposals")
    report = models.OneToOneField(
        CalibrationReport, on_delete=models.PROTECT, related_name="proposal"
    )
    status = models.CharField(max_length=20, choices=ProposalStatus.choices)
    message = models.CharField(max_length=300)
    base_version = models.ForeignKey(
        ConfigVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    proposed_version = models.OneToOneField(
        ConfigVersion,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="calibration_proposal",
    )
    change_summary = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"proposal {self.tenant_id}: {self.message}"


@receiver(post_save, sender=Tenant, dispatch_uid="calibration_pipeline_schedule")
def _schedule_pipeline_for_new_tenant(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        from calibration.selectors import forget_runtime_config
        from calibration.services.pipeline import pipeline_schedule_ensure

        forget_runtime_config(tenant_id=instance.pk)
        # robust: the tenant is committed; a failed schedule is logged, never a 500.
        transaction.on_commit(lambda: pipeline_schedule_ensure(tenant=instance), robust=True)


@receiver(post_save, sender=ConfigVersion, dispatch_uid="calibration_forget_runtime_config")
def _forget_runtime_config(sender, instance, raw=False, **kwargs):
    """A version changed state in this process: the score endpoint's memo must not outlive
    the shared cache's invalidation (forgotten now, and again once the switch commits)."""
    if raw:
        return
    from calibration.selectors import forget_runtime_config

    forget_runtime_config(tenant_id=instance.tenant_id)
    transaction.on_commit(lambda: forget_runtime_config(tenant_id=instance.tenant_id))
