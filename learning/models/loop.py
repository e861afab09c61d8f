"""The active learning loop (seed 002): backtest cases and runs, failure analyses, bounded
proposals and their sandbox runs. Transitions change database state only; the services in
``learning.services.loop`` write the ledger around them."""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from governance.models import ConfigVersion, Tenant

__all__ = [
    "BacktestCase",
    "BacktestResult",
    "BacktestRun",
    "BacktestStatus",
    "ConfidenceLevel",
    "FailureAnalysis",
    "FailureState",
    "LoopProposal",
    "ProposalKind",
    "ProposalState",
    "RunTrigger",
    "SandboxRun",
]


class BacktestStatus(models.TextChoices):
    HIT = "HIT"
    MISS = "MISS"
    ABSTAIN = "ABSTAIN"


class ConfidenceLevel(models.TextChoices):
    LOW = "LOW"
    MED = "MED"
    HIGH = "HIGH"


class RunTrigger(models.TextChoices):
    MANUAL = "manual"
    NIGHTLY = "nightly"
    LOOP = "loop"
    API = "api"


class BacktestCase(models.Model):
    """A historical situation with what the scorer should have said about it. ``features`` is
    the stored snapshot the sandbox replays (historical data only)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="backtest_cases")
    case_id = models.SlugField(max_length=120)
    description = models.CharField(max_length=200, blank=True, default="")
    features = models.JSONField(help_text="Feature name -> number, as the scorer reads them.")
    expected_decision = models.CharField(
        max_length=40, help_text="The expected band, or ABSTAIN when the case expects abstention."
    )
    expected_flags = models.JSONField(
        default=list, blank=True, help_text="Flag names that must fire (the case's triggers)."
    )
    expected_escalate = models.BooleanField(
        null=True, blank=True, help_text="Empty: escalation is not part of the expectation."
    )
    protected = models.BooleanField(
        default=False, help_text="A protected case must never regress under a promoted change."
    )
    active = models.BooleanField(default=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["tenant_id", "case_id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "case_id"], name="backtest_case_unique_id")
        ]

    def __str__(self) -> str:
        return self.case_id


class BacktestRun(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="backtest_runs")
    run_id = models.SlugField(max_length=40, help_text="Tenant-local: run_000001, run_000002 ...")
    config_version = models.ForeignKey(
        ConfigVersion, on_delete=models.PROTECT, related_name="backtest_runs"
    )
    trigger = models.CharField(max_length=16, choices=RunTrigger.choices, default=RunTrigger.MANUAL)
    idempotency_key = models.CharField(max_length=80, null=True, blank=True)
    case_count = models.PositiveIntegerField(default=0)
    hit_count = models.PositiveIntegerField(default=0)
    miss_count = models.PositiveIntegerField(default=0)
    abstain_count = models.PositiveIntegerField(default=0)
    pass_rate = models.FloatField(default=0.0)
    avg_score = models.FloatField(default=0.0)
    results_sha256 = models.CharField(max_length=64, blank=True, default="")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "run_id"], name="backtest_run_unique_id"),
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="backtest_run_unique_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return self.run_id


class BacktestResult(models.Model):
    run = models.ForeignKey(BacktestRun, on_delete=models.CASCADE, related_name="results")
    case = models.ForeignKey(BacktestCase, on_delete=models.CASCADE, related_name="results")
    status = models.CharField(max_length=8, choices=BacktestStatus.choices, db_index=True)
    decision = models.CharField(max_length=40)
    score = models.FloatField()
    confidence_value = models.FloatField()
    confidence = models.CharField(max_length=4, choices=ConfidenceLevel.choices)
    flags = models.JSONField(default=list)
    escalate = models.BooleanField(default=False)

    class Meta:
        ordering = ["run_id", "case_id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "case"], name="backtest_result_unique_case")
        ]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.case_id} {self.status}"


class FailureState(models.TextChoices):
    OPEN = "OPEN"
    RESOLVED = "RESOLVED"


class FailureAnalysis(ConcurrentTransitionMixin, models.Model):
    """Component 1: the deterministic diagnosis of one MISS or high-confidence ABSTAIN."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="failure_analyses")
    failure_id = models.CharField(max_length=200)
    run = models.ForeignKey(BacktestRun, on_delete=models.CASCADE, related_name="failures")
    case = models.ForeignKey(BacktestCase, on_delete=models.CASCADE, related_name="failures")
    result = models.OneToOneField(
        BacktestResult, on_delete=models.CASCADE, related_name="failure_analysis"
    )
    artifact = models.JSONField()
    artifact_sha256 = models.CharField(max_length=64)
    markdown = models.TextField()
    hypothesis = models.CharField(max_length=80)
    state = FSMField(default=FailureState.OPEN, choices=FailureState.choices, protected=True)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "failure_id"]
        verbose_name_plural = "failure analyses"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "failure_id"], name="failure_unique_id"),
        ]

    def __str__(self) -> str:
        return self.failure_id

    @transition(field=state, source=FailureState.OPEN, target=FailureState.RESOLVED)
    def resolve(self, *, now=None):
        self.resolved_at = now or timezone.now()


class ProposalKind(models.TextChoices):
    THRESHOLD = "threshold_adjustment"
    WEIGHT = "weight_adjustment"
    FLAG_RULE = "flag_rule_adjustment"
    NEW_METRIC = "new_metric"
    NEW_OPERATOR = "new_operator"


class ProposalState(models.TextChoices):
    PROPOSED = "PROPOSED"
    SANDBOXED = "SANDBOXED"
    ELIGIBLE = "ELIGIBLE"
    INELIGIBLE = "INELIGIBLE"
    PROMOTED = "PROMOTED"


class LoopProposal(ConcurrentTransitionMixin, models.Model):
    """Component 2: exactly one bounded change per failure, that is per case failing under a
    base version (the unique pair enforces it, whoever runs the loop)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="loop_proposals")
    proposal_id = models.CharField(max_length=220)
    failure = models.OneToOneField(
        FailureAnalysis, on_delete=models.CASCADE, related_name="proposal"
    )
    # The failing case, copied from the failure. A failure is one case failing under one base
    # version, whichever run (nightly, manual, API) found it: each run analyses its own
    # FailureAnalysis rows, so only this pair stops two runs proposing the same fix twice.
    # NULL only on duplicates that runs made before migration 0011.
    case = models.ForeignKey(
        BacktestCase, null=True, blank=True, on_delete=models.CASCADE, related_name="proposals"
    )
    kind = models.CharField(max_length=24, choices=ProposalKind.choices)
    base_version = models.ForeignKey(
        ConfigVersion, on_delete=models.PROTECT, related_name="loop_proposals"
    )
    change = models.JSONField(help_text="{path, old, new}: the single change.")
    proposed_payload = models.JSONField()
    document = models.JSONField(help_text="The proposal as written to proposal.json.")
    document_sha256 = models.CharField(max_length=64)
    declared_threshold = models.FloatField(default=0.10)
    state = FSMField(
        default=ProposalState.PROPOSED, choices=ProposalState.choices, protected=True, db_index=True
    )
    promoted_version = models.ForeignKey(
        ConfigVersion,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="promoted_from_proposals",
    )
    created_at = models.DateTimeField(default=timezone.now)
    sandboxed_at = models.DateTimeField(null=True, blank=True)
    promoted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "proposal_id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "proposal_id"], name="proposal_unique_id"),
            models.UniqueConstraint(
                fields=["base_version", "case"], name="proposal_one_per_case_and_version"
            ),
        ]

    def __str__(self) -> str:
        return self.proposal_id

    @transition(
        field=state,
        source=ProposalState.PROPOSED,
        target=ProposalState.SANDBOXED,
        custom={"label": "Run the sandbox and the gate", "admin": True},
    )
    def sandbox(self, *, now=None):
        self.sandboxed_at = now or timezone.now()

    @transition(
        field=state,
        source=ProposalState.SANDBOXED,
        target=ProposalState.ELIGIBLE,
        custom={"admin": False},
    )
    def mark_eligible(self):
        pass

    @transition(
        field=state,
        source=ProposalState.SANDBOXED,
        target=ProposalState.INELIGIBLE,
        custom={"admin": False},
    )
    def mark_ineligible(self):
        pass

    @transition(
        field=state,
        source=ProposalState.ELIGIBLE,
        target=ProposalState.PROMOTED,
        custom={"label": "Promote (registers a version for approval)", "admin": True},
    )
    def promote(self, *, version: ConfigVersion, now=None):
        self.promoted_version = version
        self.promoted_at = now or timezone.now()


class SandboxRun(models.Model):
    """Component 3: one sandbox execution (N replays) of a proposal. ``report`` is the
    deterministic report (hashed, byte-identical for the same inputs); ``measurements`` holds
    the wall-clock and tracemalloc figures, kept out of the hash."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sandbox_runs")
    sandbox_run_id = models.CharField(max_length=240)
    proposal = models.ForeignKey(
        LoopProposal, on_delete=models.CASCADE, related_name="sandbox_runs"
    )
    runs = models.PositiveSmallIntegerField()
    report = models.JSONField()
    report_sha256 = models.CharField(max_length=64)
    measurements = models.JSONField(default=dict)
    promotion_eligible = models.BooleanField()
    executed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-executed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "sandbox_run_id"], name="sandbox_run_unique_id"
            ),
        ]

    def __str__(self) -> str:
        return self.sandbox_run_id
