"""Guarded rollout of an APPROVED config version (SPEC 5.1; Argo Rollouts, LaunchDarkly
guarded rollouts and Kayenta are the references): stages of growing exposure, each guarded by
a comparison of the candidate's cohort with the current version's, advancing when the guards
pass and aborting to the current version when one regresses significantly."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from governance.models.tenancy import Tenant
from governance.models.versions import ConfigFamily, ConfigVersion


def _is_reviewer(instance: Rollout, user) -> bool:
    return bool(user and user.is_authenticated and user.has_perm("governance.review"))


class RolloutState(models.TextChoices):
    PLANNED = "PLANNED"
    SCHEDULED = "SCHEDULED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    ABORTED = "ABORTED"
    CANCELLED = "CANCELLED"


class Rollout(ConcurrentTransitionMixin, models.Model):
    """A plan to take ``candidate`` from 0% to 100% of a family's cases in ``stages``
    (``[{"percent": 5, "min_duration_seconds": 3600, "min_decisions": 200}, ...]``, the last
    at 100), guarded by ``guards`` (``[{"metric": "success_rate",
    "max_relative_regression": 0.05}]``). ``percent`` is the exposure now; ``history`` the
    exposure over time and every stage decision."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="rollouts")
    family = models.ForeignKey(ConfigFamily, on_delete=models.PROTECT, related_name="rollouts")
    candidate = models.ForeignKey(
        ConfigVersion, on_delete=models.PROTECT, related_name="rollouts_as_candidate"
    )
    baseline = models.ForeignKey(
        ConfigVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rollouts_as_baseline",
        help_text="The ACTIVE version when the rollout started: the version traffic returns to.",
    )
    stages = models.JSONField()
    guards = models.JSONField(default=list)
    significance_level = models.FloatField(default=0.05)
    inconclusive_limit = models.PositiveIntegerField(default=3)
    acknowledge_breaking = models.BooleanField(default=False)
    state = FSMField(
        default=RolloutState.PLANNED, choices=RolloutState.choices, protected=True, db_index=True
    )
    stage_index = models.IntegerField(default=-1, help_text="-1 before the first stage.")
    percent = models.PositiveSmallIntegerField(default=0)
    stage_started_at = models.DateTimeField(null=True, blank=True)
    inconclusive_count = models.PositiveIntegerField(default=0)
    analysis_seq = models.PositiveIntegerField(
        default=0, help_text="Bumped by each applied analysis: the claim of a conditional update."
    )
    analysis = models.JSONField(default=dict, blank=True, help_text="The last analysis.")
    analyzed_at = models.DateTimeField(null=True, blank=True)
    history = models.JSONField(default=list, blank=True)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    created_by_label = models.CharField(max_length=200, blank=True, default="")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "family"],
                condition=Q(state__in=["PLANNED", "SCHEDULED", "RUNNING", "PAUSED"]),
                name="rollout_one_live_per_family",
            )
        ]
        indexes = [models.Index(fields=["state", "scheduled_at"], name="rollout_due_idx")]

    def __str__(self) -> str:
        return f"rollout {self.pk} of v{self.candidate.version}"

    @property
    def stage(self) -> dict | None:
        if 0 <= self.stage_index < len(self.stages):
            return self.stages[self.stage_index]
        return None

    def _enter_stage(self, index: int, now) -> None:
        self.stage_index = index
        self.percent = int(self.stages[index]["percent"])
        self.stage_started_at = now
        self.inconclusive_count = 0

    @transition(
        field=state,
        source=RolloutState.PLANNED,
        target=RolloutState.RUNNING,
        permission=_is_reviewer,
    )
    def approve_and_start(self, *, user, now):
        self.approved_by, self.approved_at, self.started_at = user, now, now
        self._enter_stage(0, now)

    @transition(
        field=state,
        source=RolloutState.PLANNED,
        target=RolloutState.SCHEDULED,
        permission=_is_reviewer,
    )
    def approve_and_schedule(self, *, user, now, at):
        self.approved_by, self.approved_at, self.scheduled_at = user, now, at

    @transition(field=state, source=RolloutState.SCHEDULED, target=RolloutState.RUNNING)
    def start(self, *, now):
        self.started_at = now
        self._enter_stage(0, now)

    @transition(field=state, source=RolloutState.RUNNING, target=RolloutState.RUNNING)
    def advance(self, *, now):
        self._enter_stage(self.stage_index + 1, now)

    @transition(field=state, source=RolloutState.RUNNING, target=RolloutState.RUNNING)
    def mark_inconclusive(self):
        self.inconclusive_count += 1

    @transition(field=state, source=RolloutState.RUNNING, target=RolloutState.COMPLETED)
    def complete(self, *, now):
        self.percent, self.finished_at = 100, now

    @transition(field=state, source=RolloutState.RUNNING, target=RolloutState.PAUSED)
    def pause(self):
        pass

    @transition(
        field=state,
        source=RolloutState.PAUSED,
        target=RolloutState.RUNNING,
        permission=_is_reviewer,
    )
    def resume(self):
        self.inconclusive_count = 0

    @transition(
        field=state,
        source=[RolloutState.RUNNING, RolloutState.PAUSED],
        target=RolloutState.ABORTED,
    )
    def abort(self, *, now):
        self.percent, self.finished_at = 0, now

    @transition(
        field=state,
        source=[RolloutState.PLANNED, RolloutState.SCHEDULED],
        target=RolloutState.CANCELLED,
        permission=_is_reviewer,
    )
    def cancel(self, *, now):
        self.finished_at = now
