from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from governance.models.tenancy import Tenant


class VersionState(models.TextChoices):
    DRAFT = "DRAFT"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    ACTIVE = "ACTIVE"
    SUPERSEDED = "SUPERSEDED"
    DEPRECATED = "DEPRECATED"


class VersionSource(models.TextChoices):
    MANUAL = "manual"
    CALIBRATION = "calibration"
    LEARNING_LOOP = "learning_loop"


def _is_reviewer(instance: "ConfigVersion", user) -> bool:
    return bool(user and user.is_authenticated and user.has_perm("governance.review"))


def _contributed(instance: "ConfigVersion", user) -> bool:
    # ``user:<username>`` is the label Actor.for_user gives a person in the ledger and in
    # ``contributors``; spelled out here because a model cannot import the services.
    label = f"user:{user.get_username()}"
    return instance.created_by_id == user.pk or label in (instance.contributors or [])


def _is_reviewer_not_contributor(instance: "ConfigVersion", user) -> bool:
    """Four eyes on every route that asks the model (admin FSM buttons, the kernel): nobody
    who registered, edited or submitted the payload may approve it."""
    return _is_reviewer(instance, user) and not _contributed(instance, user)


def _was_approved(instance: "ConfigVersion") -> bool:
    return instance.approved_at is not None


class ConfigFamily(models.Model):
    """Per-tenant settings of a config family; its row is also the lock that serializes
    activations of the family."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="config_families")
    name = models.SlugField(max_length=64)
    approvals_required = models.PositiveSmallIntegerField(default=1)
    json_schema = models.JSONField(
        default=dict, blank=True, help_text="Empty: the built-in schema for this family name."
    )

    class Meta:
        verbose_name_plural = "config families"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="family_unique_tenant_name"),
            models.CheckConstraint(
                condition=Q(approvals_required__gte=1), name="family_approvals_required_gte_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}:{self.name}"


class ConfigVersion(ConcurrentTransitionMixin, models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="config_versions")
    family = models.ForeignKey(ConfigFamily, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(max_length=32, help_text="Semantic version, e.g. 1.2.0")
    payload = models.JSONField()
    base_version = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="derived_versions"
    )
    description = models.TextField(blank=True, default="")
    changes = models.JSONField(
        default=list,
        blank=True,
        help_text="[{description, date, impact: breaking|non-breaking, affected_components: []}]",
    )
    source = models.CharField(
        max_length=20, choices=VersionSource.choices, default=VersionSource.MANUAL
    )
    state = FSMField(
        default=VersionState.DRAFT, choices=VersionState.choices, protected=True, db_index=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="authored_versions",
    )
    created_by_label = models.CharField(
        max_length=150, blank=True, default="", help_text="Actor label of the author (ledger)."
    )
    contributors = models.JSONField(
        default=list,
        blank=True,
        help_text="Actor labels of everyone who registered, edited or submitted the payload "
        "(four eyes: none of them may approve it).",
    )
    created_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    rejected_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.TextField(blank=True, default="")
    activated_at = models.DateTimeField(null=True, blank=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="activated_versions",
    )
    deactivated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "family", "version"], name="version_unique_tenant_family_version"
            ),
            models.UniqueConstraint(
                fields=["tenant", "family"],
                condition=Q(state="ACTIVE"),
                name="version_one_active_per_family",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "family", "state"], name="version_state_idx")]

    def __str__(self) -> str:
        return f"{self.family.name} v{self.version}"

    # Transitions change database state only; the services write the ledger around them.

    @transition(field=state, source=VersionState.DRAFT, target=VersionState.PENDING_APPROVAL)
    def submit(self, *, now=None):
        self.submitted_at = now or timezone.now()

    # A payload edit goes through here from DRAFT too, so every edit is one governed change.
    @transition(
        field=state,
        source=[VersionState.DRAFT, VersionState.PENDING_APPROVAL],
        target=VersionState.DRAFT,
    )
    def return_to_draft(self):
        self.submitted_at = None

    # One reviewer's approval while more are required: the state stays, the approval counts.
    @transition(
        field=state,
        source=VersionState.PENDING_APPROVAL,
        target=VersionState.PENDING_APPROVAL,
        permission=_is_reviewer_not_contributor,
    )
    def record_approval(self):
        pass

    @transition(
        field=state,
        source=VersionState.PENDING_APPROVAL,
        target=VersionState.APPROVED,
        permission=_is_reviewer_not_contributor,
        custom={"label": "Approve", "admin": True},
    )
    def approve(self, *, now=None):
        self.approved_at = now or timezone.now()

    @transition(
        field=state,
        source=VersionState.PENDING_APPROVAL,
        target=VersionState.REJECTED,
        permission=_is_reviewer,
        custom={"label": "Reject", "admin": True},
    )
    def reject(self, *, reason: str = "", now=None):
        self.rejected_at = now or timezone.now()
        self.rejection_reason = reason

    @transition(
        field=state,
        source=VersionState.APPROVED,
        target=VersionState.ACTIVE,
        permission=_is_reviewer,
        custom={"label": "Activate", "admin": True},
    )
    def activate(self, *, now=None):
        self.activated_at = now or timezone.now()
        self.deactivated_at = None

    @transition(field=state, source=VersionState.ACTIVE, target=VersionState.SUPERSEDED)
    def supersede(self, *, now=None):
        self.deactivated_at = now or timezone.now()

    @transition(
        field=state,
        source=VersionState.ACTIVE,
        target=VersionState.DEPRECATED,
        permission=_is_reviewer,
        custom={"label": "Deprecate", "admin": True},
    )
    def deprecate(self, *, now=None):
        self.deactivated_at = now or timezone.now()

    @transition(
        field=state,
        source=[VersionState.SUPERSEDED, VersionState.DEPRECATED],
        target=VersionState.ACTIVE,
        conditions=[_was_approved],
        permission=_is_reviewer,
        custom={"label": "Roll back to this version", "admin": True},
    )
    def rollback(self, *, now=None):
        self.activated_at = now or timezone.now()
        self.deactivated_at = None


class VersionApproval(models.Model):
    version = models.ForeignKey(ConfigVersion, on_delete=models.CASCADE, related_name="approvals")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    reason = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "reviewer"],
                condition=Q(voided_at__isnull=True),
                name="approval_one_live_per_reviewer",
            )
        ]

    def __str__(self) -> str:
        return f"{self.version_id} approved by {self.reviewer_id}"
