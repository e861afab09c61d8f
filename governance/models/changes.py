"""Governed changes beyond config payloads: change requests for safety settings and the
report every rollback writes."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from governance.models.tenancy import Tenant
from governance.models.versions import ConfigFamily, ConfigVersion


class SettingsChangeState(models.TextChoices):
    PENDING = "PENDING"
    APPLIED = "APPLIED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


class SettingsChange(ConcurrentTransitionMixin, models.Model):
    """A change that loosens a safety setting (Unleash's change request): proposed by anyone,
    applied only when a second reviewer approves it, and refused if the setting moved on since
    it was drafted. Tightening never waits: it applies at once and is only ledgered."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="settings_changes")
    setting = models.CharField(
        max_length=64, help_text="The settings kind, e.g. regression_policy."
    )
    target = models.CharField(
        max_length=200, help_text="Which row of that kind, e.g. checkout.approval_rate."
    )
    before = models.JSONField(default=dict, help_text="The changed fields as they were.")
    after = models.JSONField(default=dict, help_text="The changed fields as requested.")
    loosened = models.JSONField(default=list, help_text="The fields whose change loosens.")
    state = FSMField(
        default=SettingsChangeState.PENDING,
        choices=SettingsChangeState.choices,
        protected=True,
        db_index=True,
    )
    requested_by_label = models.CharField(max_length=150)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="requested_settings_changes",
    )
    reason = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="decided_settings_changes",
    )
    decision_reason = models.TextField(blank=True, default="")
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["tenant", "setting", "target", "state"], name="settings_change_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.setting} {self.target} #{self.pk}"

    # Transitions change database state only; the kernel ledgers and applies around them.
    @transition(
        field=state,
        source=SettingsChangeState.PENDING,
        target=SettingsChangeState.APPLIED,
        custom={"label": "Approve and apply", "admin": True},
    )
    def apply(self, *, by=None, reason: str = "", now=None):
        self.decided_by = by
        self.decision_reason = reason
        self.decided_at = now or timezone.now()

    @transition(
        field=state,
        source=SettingsChangeState.PENDING,
        target=SettingsChangeState.REJECTED,
        custom={"label": "Reject", "admin": True},
    )
    def reject(self, *, by=None, reason: str = "", now=None):
        self.decided_by = by
        self.decision_reason = reason
        self.decided_at = now or timezone.now()

    @transition(
        field=state, source=SettingsChangeState.PENDING, target=SettingsChangeState.CANCELLED
    )
    def cancel(self, *, reason: str = "", now=None):
        self.decision_reason = reason
        self.decided_at = now or timezone.now()


class RollbackReport(models.Model):
    """What a rollback changed (seed 001): what was active, what is active now, the diff, who
    and why, and where the decision is recorded."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="rollback_reports")
    family = models.ForeignKey(ConfigFamily, on_delete=models.PROTECT, related_name="+")
    rolled_back_from = models.ForeignKey(
        ConfigVersion, null=True, on_delete=models.PROTECT, related_name="+"
    )
    rolled_back_to = models.ForeignKey(
        ConfigVersion, on_delete=models.PROTECT, related_name="rollback_reports"
    )
    diff = models.JSONField(default=dict)
    actor = models.CharField(max_length=150)
    reason = models.TextField()
    automatic = models.BooleanField(default=False)
    checkpoint_ids = models.JSONField(default=list)
    ledger_seq = models.PositiveBigIntegerField(null=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"rollback to {self.rolled_back_to_id} #{self.pk}"
