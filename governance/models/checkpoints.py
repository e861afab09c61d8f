from django.conf import settings
from django.db import models
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from governance.models.tenancy import Tenant


class CheckpointPriority(models.IntegerChoices):
    # Integers so that "ORDER BY priority" is the reviewers' order.
    CRITICAL = 0
    HIGH = 1
    NORMAL = 2
    LOW = 3


class CheckpointState(models.TextChoices):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    AUTO_APPROVED = "AUTO_APPROVED"
    AUTO_DISMISSED = "AUTO_DISMISSED"


class CheckpointType(models.TextChoices):
    CONFIG_APPROVAL = "config_approval"
    TRIPWIRE_TRIGGERED = "tripwire_triggered"
    POLICY_DEMOTED = "policy_demoted"
    PROPOSAL_PROMOTED = "proposal_promoted"
    DRIFT_ALERT = "drift_alert"
    CALIBRATION_PROPOSAL = "calibration_proposal"
    LOW_CONFIDENCE = "low_confidence"
    SETTINGS_CHANGE = "settings_change"
    REVIEW_REQUEST = "review_request"
    ROLLOUT_ABORTED = "rollout_aborted"
    CUSTOM = "custom"


def _is_reviewer(instance, user) -> bool:
    return bool(user and user.is_authenticated and user.has_perm("governance.review"))


class CheckpointConfig(models.Model):
    tenant = models.OneToOneField(
        Tenant, on_delete=models.CASCADE, related_name="checkpoint_config"
    )
    enabled_types = models.JSONField(
        default=list, blank=True, help_text="Checkpoint types to open; empty means all."
    )
    priority_overrides = models.JSONField(
        default=dict, blank=True, help_text='{"type": "HIGH"}: priority per checkpoint type.'
    )
    auto_approve_confidence = models.FloatField(
        null=True, blank=True, help_text="A checkpoint at or above this confidence is approved."
    )
    auto_approve_types = models.JSONField(
        default=list,
        blank=True,
        help_text="Types a confident checkpoint may be approved automatically for; never "
        "config approval, tripwire, demotion or settings changes.",
    )
    auto_dismiss_hours = models.PositiveIntegerField(default=72)
    max_pending = models.PositiveIntegerField(default=100)
    blocking_types = models.JSONField(
        default=list, blank=True, help_text="Types that always block and never auto-dismiss."
    )

    def __str__(self) -> str:
        return f"checkpoint config of {self.tenant_id}"


class Checkpoint(ConcurrentTransitionMixin, models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="checkpoints")
    checkpoint_type = models.CharField(max_length=40, db_index=True)
    subject_type = models.CharField(max_length=100, blank=True, default="")
    subject_id = models.CharField(max_length=64, blank=True, default="")
    description = models.TextField()
    confidence = models.FloatField(null=True, blank=True)
    priority = models.PositiveSmallIntegerField(
        choices=CheckpointPriority.choices, default=CheckpointPriority.NORMAL
    )
    blocking = models.BooleanField(default=False)
    state = FSMField(
        default=CheckpointState.PENDING, choices=CheckpointState.choices, protected=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    resolution_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["priority", "created_at", "id"]
        indexes = [
            models.Index(
                fields=["tenant", "state", "priority", "created_at"], name="checkpoint_queue_idx"
            ),
            models.Index(fields=["state", "blocking", "expires_at"], name="checkpoint_expiry_idx"),
            models.Index(
                fields=["tenant", "subject_type", "subject_id"], name="checkpoint_subject_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.checkpoint_type} #{self.pk}"

    @transition(
        field=state,
        source=CheckpointState.PENDING,
        target=CheckpointState.APPROVED,
        permission=_is_reviewer,
        custom={"label": "Approve", "admin": True},
    )
    def approve(self, *, reason: str = "", now=None):
        self.resolved_at = now or timezone.now()
        self.resolution_reason = reason

    @transition(
        field=state,
        source=CheckpointState.PENDING,
        target=CheckpointState.REJECTED,
        permission=_is_reviewer,
        custom={"label": "Reject", "admin": True},
    )
    def reject(self, *, reason: str = "", now=None):
        self.resolved_at = now or timezone.now()
        self.resolution_reason = reason

    @transition(field=state, source=CheckpointState.PENDING, target=CheckpointState.AUTO_APPROVED)
    def auto_approve(self, *, now=None):
        self.resolved_at = now or timezone.now()
        self.resolution_reason = "confidence at or above the auto-approve level"
