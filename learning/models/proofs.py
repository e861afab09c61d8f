"""Learning proofs (seed 000): incidents grouped by pattern, learned policies born from them,
prevention evidence, regret with automatic demotion and decay, and the timeline rows that
show the loop. The seed's in-memory trackers are rows here; their reads are in
``learning.selectors_proofs`` and their writes in ``learning.services.proofs``."""

from __future__ import annotations

import datetime as dt
import math

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import DateTimeField, F, FloatField, Func, Q, Value
from django.db.models.functions import Power
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from governance.models import Tenant

__all__ = [
    "ConsoleProof",
    "Incident",
    "LearnedPolicy",
    "Pattern",
    "PolicyState",
    "PreventionOutcome",
    "PreventionRecord",
    "RegretEvent",
    "RegretType",
    "TimelineEvent",
    "TimelineKind",
]

DEFAULT_AUTO_DEMOTE_SCORE = 10.0
DEFAULT_AUTO_DEMOTE_COUNT = 3
DEFAULT_DECAY_RATE = 0.1
SECONDS_PER_DAY = 86400.0


def decayed_score(
    *, score: float, decay_rate: float, since: dt.datetime, now: dt.datetime
) -> float:
    """``score * (1 - decay_rate) ** days`` for the days from ``since`` to ``now`` (none when
    ``now`` is not later). The same formula as the set-based pass below."""
    days = (now - since).total_seconds() / SECONDS_PER_DAY
    if days <= 0 or score <= 0 or decay_rate <= 0:
        return score
    return score * math.pow(1.0 - decay_rate, days)


class DaysSince(Func):
    """Fractional days from a datetime column to a given instant, in SQL."""

    output_field = FloatField()

    def __init__(self, now: dt.datetime, column: str) -> None:
        super().__init__(Value(now, output_field=DateTimeField()), F(column))

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            template="(EXTRACT(EPOCH FROM (%(expressions)s))::double precision / 86400.0)",
            arg_joiner=" - ",
            **extra,
        )

    def as_sqlite(self, compiler, connection, **extra):
        # Django stores SQLite datetimes as ISO text in UTC; julianday() reads them as days.
        return self.as_sql(
            compiler,
            connection,
            template="(julianday(%(expressions)s))",
            arg_joiner=") - julianday(",
            **extra,
        )


def decayed_score_expression(now: dt.datetime):
    """``regret_score * power(1 - decay_rate, days since last_decayed_at)`` as an expression."""
    return F("regret_score") * Power(
        Value(1.0) - F("decay_rate"), DaysSince(now, "last_decayed_at")
    )


class Pattern(models.Model):
    """A failure signature family; it groups incidents and gives birth to policies. Its ``key``
    is what calibration's per-pattern adaptive confidence is keyed by."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="learning_patterns")
    key = models.CharField(max_length=128, help_text="Stable signature key of the pattern.")
    name = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="pattern_unique_tenant_key")
        ]

    def __str__(self) -> str:
        return self.name or self.key


class Incident(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="incidents")
    pattern = models.ForeignKey(Pattern, on_delete=models.PROTECT, related_name="incidents")
    signature = models.CharField(max_length=128, help_text="Signature of this occurrence.")
    title = models.CharField(max_length=200, blank=True, default="")
    severity = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    event_id = models.CharField(
        max_length=64, null=True, blank=True, help_text="Client idempotency key."
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "event_id"],
                condition=Q(event_id__isnull=False),
                name="incident_unique_tenant_event_id",
            ),
            models.CheckConstraint(
                condition=Q(severity__gte=1, severity__lte=10), name="incident_severity_1_10"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "pattern", "occurred_at"], name="incident_pattern_idx")
        ]

    def __str__(self) -> str:
        return f"incident #{self.pk} ({self.pattern_id})"


class PolicyState(models.TextChoices):
    SHADOW = "SHADOW"
    ACTIVE = "ACTIVE"
    DEMOTED = "DEMOTED"
    RETIRED = "RETIRED"


def _is_reviewer(instance, user) -> bool:
    return bool(user and user.is_authenticated and user.has_perm("governance.review"))


class LearnedPolicy(ConcurrentTransitionMixin, models.Model):
    """A blocking policy born from an incident's pattern. Its regret columns are the seed's
    ``PolicyRegretTracker``: ``regret_score`` is exact as of ``last_decayed_at`` and decays
    exponentially after it (``regret_score * (1 - decay_rate) ** days``)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="learned_policies")
    pattern = models.ForeignKey(Pattern, on_delete=models.PROTECT, related_name="policies")
    source_incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, related_name="policies_born"
    )
    name = models.CharField(max_length=200)
    state = FSMField(
        default=PolicyState.SHADOW, choices=PolicyState.choices, protected=True, db_index=True
    )
    born_at = models.DateTimeField(default=timezone.now)
    created_by_label = models.CharField(max_length=150, blank=True, default="")
    activated_at = models.DateTimeField(null=True, blank=True)

    # Regret settings (the seed's thresholds; the defaults).
    auto_demote_score = models.FloatField(
        default=DEFAULT_AUTO_DEMOTE_SCORE, validators=[MinValueValidator(0.0)]
    )
    auto_demote_count = models.PositiveIntegerField(
        default=DEFAULT_AUTO_DEMOTE_COUNT, validators=[MinValueValidator(1)]
    )
    decay_rate = models.FloatField(
        default=DEFAULT_DECAY_RATE,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Fraction of the regret score that decays per day.",
    )

    # Regret state.
    regret_score = models.FloatField(default=0.0)
    regret_count = models.PositiveIntegerField(
        default=0, help_text="Regret events since birth or the last reinstatement."
    )
    regret_total = models.PositiveIntegerField(default=0)
    last_decayed_at = models.DateTimeField(default=timezone.now)
    auto_demotions = models.PositiveIntegerField(default=0)

    # Prevention counters, kept in the same transaction as each record so the graduation
    # dashboard never counts a million rows.
    prevention_count = models.PositiveIntegerField(default=0)
    recurrence_count = models.PositiveIntegerField(default=0)

    demoted_at = models.DateTimeField(null=True, blank=True)
    demoted_reason = models.CharField(max_length=500, blank=True, default="")
    demoted_automatically = models.BooleanField(default=False)
    demoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The reviewer of a manual demotion (override); empty when automatic.",
    )
    reinstated_at = models.DateTimeField(null=True, blank=True)
    reinstated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "learned policies"
        ordering = ["-born_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "pattern"],
                condition=~Q(state="RETIRED"),
                name="policy_one_live_per_pattern",
            ),
            models.CheckConstraint(
                condition=Q(decay_rate__gte=0.0, decay_rate__lte=1.0), name="policy_decay_rate_0_1"
            ),
            models.CheckConstraint(condition=Q(regret_score__gte=0.0), name="policy_regret_gte_0"),
        ]
        # No index on regret_score or last_decayed_at: the decay pass rewrites both on most
        # rows it reads, and leaving them unindexed keeps those updates HOT (heap-only).
        indexes = [models.Index(fields=["tenant", "state"], name="policy_tenant_state_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_demoted(self) -> bool:
        return self.state == PolicyState.DEMOTED

    # Transitions change database state only; the services write the ledger around them.

    @transition(
        field=state,
        source=PolicyState.SHADOW,
        target=PolicyState.ACTIVE,
        permission=_is_reviewer,
        custom={"label": "Activate", "admin": True},
    )
    def activate(self, *, now=None):
        self.activated_at = now or timezone.now()

    @transition(field=state, source=PolicyState.ACTIVE, target=PolicyState.DEMOTED)
    def demote_automatically(self, *, reason: str, now=None):
        self.demoted_at = now or timezone.now()
        self.demoted_reason = reason[:500]
        self.demoted_automatically = True
        self.demoted_by = None
        self.auto_demotions += 1

    @transition(
        field=state,
        source=PolicyState.ACTIVE,
        target=PolicyState.DEMOTED,
        permission=_is_reviewer,
        custom={"label": "Demote (manual override)", "admin": True},
    )
    def demote(self, *, user, reason: str, now=None):
        self.demoted_at = now or timezone.now()
        self.demoted_reason = reason[:500]
        self.demoted_automatically = False
        self.demoted_by = user

    @transition(
        field=state,
        source=PolicyState.DEMOTED,
        target=PolicyState.ACTIVE,
        permission=_is_reviewer,
        custom={"label": "Reinstate", "admin": True},
    )
    def reinstate(self, *, user, now=None):
        # A reinstated policy starts a fresh regret count.
        now = now or timezone.now()
        self.reinstated_at = now
        self.reinstated_by = user
        self.regret_score = 0.0
        self.regret_count = 0
        self.last_decayed_at = now

    @transition(
        field=state,
        source=[PolicyState.SHADOW, PolicyState.ACTIVE, PolicyState.DEMOTED],
        target=PolicyState.RETIRED,
        custom={"label": "Retire", "admin": True},
    )
    def retire(self, *, now=None):
        self.retired_at = now or timezone.now()


class PreventionOutcome(models.TextChoices):
    PREVENTED = "PREVENTED"
    RECURRED = "RECURRED"


class PreventionRecord(models.Model):
    """Evidence that a policy prevented a recurrence of its pattern (or failed to)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="prevention_records")
    policy = models.ForeignKey(LearnedPolicy, on_delete=models.PROTECT, related_name="preventions")
    pattern = models.ForeignKey(Pattern, on_delete=models.PROTECT, related_name="preventions")
    original_incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, related_name="preventions_as_original"
    )
    blocked_incident = models.ForeignKey(
        Incident,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="preventions_as_blocked",
        help_text="The recurrence (required when RECURRED; the would-be incident if recorded).",
    )
    blocked_signature = models.CharField(max_length=128, blank=True, default="")
    outcome = models.CharField(max_length=10, choices=PreventionOutcome.choices)
    signature_match_confidence = models.FloatField(
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    match_band = models.CharField(
        max_length=10, help_text="STRONG, WEAK or NOVEL under the pattern's adaptive confidence."
    )
    time_since_policy = models.DurationField()
    calls_evaluated = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.CharField(max_length=150, blank=True, default="")
    event_id = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "event_id"],
                condition=Q(event_id__isnull=False),
                name="prevention_unique_tenant_event_id",
            ),
            models.CheckConstraint(
                condition=Q(
                    signature_match_confidence__gte=0.0, signature_match_confidence__lte=1.0
                ),
                name="prevention_confidence_0_1",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "outcome", "created_at"], name="prevention_outcome_idx"),
            models.Index(fields=["policy", "created_at"], name="prevention_policy_idx"),
            models.Index(
                fields=["original_incident", "created_at"], name="prevention_incident_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.outcome} by policy {self.policy_id}"


class RegretType(models.TextChoices):
    FALSE_POSITIVE = "false_positive", "blocked a legitimate request"
    PERFORMANCE_DEGRADATION = "perf", "caused a slowdown"
    ESCALATION_NOISE = "escalation", "created unnecessary alerts"
    USER_OVERRIDE = "user_override", "a user had to override it"
    CASCADING_FAILURE = "cascade", "triggered other failures"


class RegretEvent(models.Model):
    """A single regret event: the policy caused harm. Its severity raises the policy's score."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="regret_events")
    policy = models.ForeignKey(
        LearnedPolicy, on_delete=models.PROTECT, related_name="regret_events"
    )
    regret_type = models.CharField(max_length=20, choices=RegretType.choices)
    description = models.CharField(max_length=500, blank=True, default="")
    severity = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    affected_calls = models.PositiveIntegerField(default=0)
    affected_users = models.PositiveIntegerField(default=0)
    impact_duration = models.DurationField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    was_auto_rolled_back = models.BooleanField(
        default=False, help_text="This event triggered the policy's automatic demotion."
    )
    manual_override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The reviewer who recorded a manual override.",
    )
    recorded_by = models.CharField(max_length=150, blank=True, default="")
    score_after = models.FloatField(default=0.0)
    event_id = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "event_id"],
                condition=Q(event_id__isnull=False),
                name="regret_unique_tenant_event_id",
            ),
            models.CheckConstraint(
                condition=Q(severity__gte=1, severity__lte=10), name="regret_severity_1_10"
            ),
        ]
        indexes = [
            models.Index(fields=["policy", "created_at"], name="regret_policy_idx"),
            models.Index(
                fields=["tenant"],
                condition=Q(was_auto_rolled_back=True),
                name="regret_rollback_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.regret_type} ({self.severity}) on policy {self.policy_id}"


class TimelineKind(models.TextChoices):
    INCIDENT_CREATED = "incident_created"
    POLICY_BORN = "policy_born"
    PREVENTION = "prevention"
    REGRET = "regret"
    ROLLBACK = "rollback"


class TimelineEvent(models.Model):
    """One line of an incident's prevention timeline, written by the service that caused it
    (in the same transaction), so the timeline is a single indexed read."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    kind = models.CharField(max_length=20, choices=TimelineKind.choices)
    occurred_at = models.DateTimeField()
    headline = models.CharField(max_length=200)
    description = models.CharField(max_length=500, blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    is_milestone = models.BooleanField(default=False)
    policy = models.ForeignKey(
        LearnedPolicy, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [models.Index(fields=["incident", "occurred_at", "id"], name="timeline_idx")]

    def __str__(self) -> str:
        return f"{self.kind} on incident {self.incident_id}"


class ConsoleProof(models.Model):
    """Gate 3: a person looked at an incident's timeline and it showed the whole loop (the
    seed's ``console_proof_incidents``)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="console_proofs")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["incident"], name="console_proof_one_per_incident")
        ]
        indexes = [models.Index(fields=["tenant"], name="console_proof_tenant_idx")]

    def __str__(self) -> str:
        return f"console proof of incident {self.incident_id}"
