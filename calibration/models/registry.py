"""The calibrator model registry (seed 004): training jobs, model versions with stages,
evaluations, and the per-tenant registry settings.

A calibrator maps a raw signal confidence to a calibrated probability. Its fitted parameters
are stored as JSON (never a pickle): Platt scaling keeps ``a`` and ``b`` of
``p = 1 / (1 + exp(-(a * logit(c) + b)))``; isotonic keeps the breakpoints ``x``/``y`` of a
monotone piecewise-linear map (clipped outside the fitted range)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from governance.models import Tenant

__all__ = [
    "CalibrationMethod",
    "CalibratorEvaluation",
    "CalibratorModel",
    "CalibratorRegistryConfig",
    "CalibratorVersion",
    "ModelStage",
    "TrainingJob",
    "TrainingJobState",
]


class CalibrationMethod(models.TextChoices):
    PLATT_SCALING = "platt_scaling", "Platt scaling"
    ISOTONIC = "isotonic", "Isotonic regression"


class TrainingJobState(models.TextChoices):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class ModelStage(models.TextChoices):
    DEVELOPMENT = "DEVELOPMENT"
    STAGING = "STAGING"
    PRODUCTION = "PRODUCTION"
    ARCHIVED = "ARCHIVED"


class CalibratorRegistryConfig(models.Model):
    """The seed's ``LearningEngineConfig`` training, evaluation and drift settings of a tenant
    (the collection switches and retention are ``learning.LearningEngineConfig``)."""

    tenant = models.OneToOneField(
        Tenant, on_delete=models.CASCADE, related_name="calibrator_registry_config"
    )
    min_samples_for_training = models.PositiveIntegerField(
        default=1000, help_text="Default minimum of (confidence, outcome) pairs for a job."
    )
    training_batch_size = models.PositiveIntegerField(
        default=256,
        help_text="Kept for the seed's configuration; the calibrators are fitted full-batch.",
    )
    require_eval_pass = models.BooleanField(
        default=True,
        help_text="Promotion to PRODUCTION needs the version's latest evaluation to have passed.",
    )
    eval_benchmark_threshold = models.FloatField(
        default=0.95,
        help_text="When an evaluation names baseline metrics, each metric must reach this share "
        "of the baseline's quality (higher-is-better: value >= t * baseline; lower-is-better: "
        "value <= baseline / t).",
    )
    enable_drift_detection = models.BooleanField(default=True)
    drift_threshold_pct = models.FloatField(
        default=0.10,
        help_text="A drift alert is raised when a metric's relative change |current - baseline| "
        "/ |baseline| is strictly greater than this (0.10 = 10%).",
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(eval_benchmark_threshold__gt=0) & Q(eval_benchmark_threshold__lte=1),
                name="calreg_benchmark_threshold_range",
            ),
            models.CheckConstraint(
                condition=Q(drift_threshold_pct__gt=0), name="calreg_drift_threshold_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"calibrator registry settings of {self.tenant_id}"


class CalibratorModel(models.Model):
    """A named calibrator (e.g. ``confidence_calibrator``). Its row allocates version numbers
    and is the lock that serializes promotions of its versions."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="calibrator_models")
    name = models.SlugField(max_length=100)
    model_type = models.CharField(max_length=32, default="signal")
    last_version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="calmodel_unique_tenant_name")
        ]

    def __str__(self) -> str:
        return self.name


class TrainingJob(ConcurrentTransitionMixin, models.Model):
    """QUEUED -> RUNNING -> SUCCEEDED | FAILED. A worker claims a QUEUED job with a conditional
    UPDATE, so a task delivered twice trains once. RUNNING is a lease, not a sticky state: the
    worker renews ``claimed_until`` while it trains, and a job whose lease ran out (its worker
    died or hung) is claimed again; ``attempts`` numbers the claims, and only the latest
    claim may finish the job."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="training_jobs")
    model = models.ForeignKey(CalibratorModel, on_delete=models.PROTECT, related_name="jobs")
    method = models.CharField(max_length=20, choices=CalibrationMethod.choices)
    cv_folds = models.PositiveSmallIntegerField(default=5)
    min_samples = models.PositiveIntegerField(default=1000)
    sample_source = models.CharField(max_length=64, default="signal_accuracy")
    sample_filter = models.JSONField(default=dict, blank=True)
    state = FSMField(
        default=TrainingJobState.QUEUED,
        choices=TrainingJobState.choices,
        protected=True,
        db_index=True,
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by_label = models.CharField(max_length=150, blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="The running worker's lease; renewed while it trains."
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    samples = models.PositiveIntegerField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    failure_reason = models.TextField(blank=True, default="")
    log = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(cv_folds__gte=2) & Q(cv_folds__lte=20), name="trainjob_cv_folds_range"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "state"], name="trainjob_tenant_state_idx")]

    def __str__(self) -> str:
        return f"job {self.pk} {self.model.name} ({self.method})"

    @transition(field=state, source=TrainingJobState.RUNNING, target=TrainingJobState.SUCCEEDED)
    def succeed(self, *, samples: int, metrics: dict, now) -> None:
        self.samples = samples
        self.metrics = metrics
        self.finished_at = now
        self.claimed_until = None

    @transition(
        field=state,
        source=[TrainingJobState.QUEUED, TrainingJobState.RUNNING],
        target=TrainingJobState.FAILED,
    )
    def fail(self, *, reason: str, now, samples: int | None = None) -> None:
        self.failure_reason = reason
        self.samples = samples
        self.finished_at = now
        self.claimed_until = None

    @transition(
        field=state,
        source=TrainingJobState.FAILED,
        target=TrainingJobState.QUEUED,
        custom={"label": "Retry", "admin": True},
    )
    def requeue(self) -> None:
        self.failure_reason = ""
        self.started_at = None
        self.claimed_until = None
        self.finished_at = None

    def append_log(self, line: str) -> None:
        self.log = f"{self.log}{line}\n"


def _evaluation_gate_open(version: CalibratorVersion) -> bool:
    """Promotion to PRODUCTION: the latest evaluation passed, unless the tenant's registry
    settings switch the gate off."""
    required = (
        CalibratorRegistryConfig.objects.filter(tenant_id=version.tenant_id)
        .values_list("require_eval_pass", flat=True)
        .first()
    )
    if required is False:
        return True
    latest = version.latest_evaluation()
    return latest is not None and latest.passed


class CalibratorVersion(ConcurrentTransitionMixin, models.Model):
    """A fitted calibrator. DEVELOPMENT -> STAGING -> PRODUCTION -> ARCHIVED; at most one
    PRODUCTION version per model (promoting one archives the previous)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="calibrator_versions")
    model = models.ForeignKey(CalibratorModel, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    method = models.CharField(max_length=20, choices=CalibrationMethod.choices)
    parameters = models.JSONField(help_text="Fitted parameters (JSON, not a pickle).")
    metrics = models.JSONField(default=dict, blank=True, help_text="Cross-validated metrics.")
    samples = models.PositiveIntegerField(default=0)
    training_job = models.OneToOneField(
        TrainingJob,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="model_version",
    )
    stage = FSMField(
        default=ModelStage.DEVELOPMENT, choices=ModelStage.choices, protected=True, db_index=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    staged_at = models.DateTimeField(null=True, blank=True)
    promoted_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["model", "number"], name="calversion_unique_number"),
            models.UniqueConstraint(
                fields=["model"],
                condition=Q(stage="PRODUCTION"),
                name="calversion_one_production_per_model",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "stage"], name="calversion_tenant_stage_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.model.name} v{self.number}"

    def latest_evaluation(self) -> CalibratorEvaluation | None:
        return self.evaluations.order_by("-created_at", "-id").first()

    @transition(
        field=stage,
        source=ModelStage.DEVELOPMENT,
        target=ModelStage.STAGING,
        custom={"label": "Promote to staging", "admin": True},
    )
    def to_staging(self, *, now) -> None:
        self.staged_at = now

    @transition(
        field=stage,
        source=[ModelStage.DEVELOPMENT, ModelStage.STAGING],
        target=ModelStage.PRODUCTION,
        conditions=[_evaluation_gate_open],
        custom={"label": "Promote to production", "admin": True},
    )
    def to_production(self, *, now) -> None:
        self.promoted_at = now

    @transition(
        field=stage,
        source=[ModelStage.DEVELOPMENT, ModelStage.STAGING, ModelStage.PRODUCTION],
        target=ModelStage.ARCHIVED,
        custom={"label": "Archive", "admin": True},
    )
    def archive(self, *, now) -> None:
        self.archived_at = now


class CalibratorEvaluation(models.Model):
    """Metrics of a version against thresholds. Each metric's direction: error metrics (Brier
    score, log loss, ECE, ...) pass at or below their threshold, accuracy-like metrics at or
    above it. ``results`` holds the per-metric verdicts."""

    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="calibrator_evaluations"
    )
    version = models.ForeignKey(
        CalibratorVersion, on_delete=models.CASCADE, related_name="evaluations"
    )
    benchmark_name = models.CharField(max_length=100)
    metrics = models.JSONField()
    thresholds = models.JSONField()
    baseline = models.JSONField(default=dict, blank=True)
    results = models.JSONField(default=dict)
    passed = models.BooleanField()
    created_at = models.DateTimeField(default=timezone.now)
    created_by_label = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["version", "created_at"], name="caleval_version_idx")]

    def __str__(self) -> str:
        return f"{self.benchmark_name}: {'passed' if self.passed else 'failed'}"
