"""Guarded rollout and scheduled activation of approved config versions (issue 18).

- A plan (``rollout_create``) names an APPROVED candidate, its stages and its guards; the
  reviewer who starts it approves the plan (``rollout_start``, a human act through the kernel),
  now or at a time (scheduled activation; beat starts it, a reviewer may cancel it).
- The split is a stable hash of (rollout id, client id) in 10,000 buckets: a case is in the
  candidate's cohort when its bucket is below ``percent`` x 100, so within a stage a case never
  flips, and as the percentage only grows a case once exposed stays exposed (until an abort
  sends everyone back).
- ``rollout_analyze`` compares the cohorts with one aggregate statement over the decisions of
  the stage and decides: abort at once on a significant regression (two-proportion z-test),
  advance when the stage's minimum duration and counts are met and every guard passes, wait
  otherwise; an inconclusive stage waits up to ``inconclusive_limit`` analyses with new data,
  then pauses for a reviewer. The decision is applied by whoever wins a conditional update of
  (state, stage, analysis_seq), so two workers never apply one analysis twice.
- Leaving the last stage below 100% activates the candidate through the version service's
  activation path (the previous ACTIVE version is SUPERSEDED).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from governance.errors import DomainError, TransitionConflict, ValidationFailed
from governance.kernel.kinds import LedgerKind
from governance.kernel.transitions import govern_transition
from governance.models import (
    CheckpointPriority,
    CheckpointType,
    ConfigVersion,
    Rollout,
    RolloutState,
    VersionState,
)
from governance.services.checkpoints import checkpoint_open
from governance.services.ledger import Actor, iso_utc, ledger_append
from governance.services.versions import _invalidate_active_on_commit
from govloop_client.split import BUCKETS, in_candidate_cohort, rollout_bucket  # noqa: F401 (the one split)

ROLLOUT_ACTOR = Actor.system("rollout")
MIN_SAMPLES_TO_ABORT = 30
# success_rate: decision outcomes; kpi_rate / kpi_value: KPI events (``domain``, ``kpi``)
# carrying the version that produced them.
GUARD_METRICS = ("success_rate", "kpi_rate", "kpi_value")
GUARD_TESTS = {
    "success_rate": "two_proportion_z",
    "kpi_rate": "two_proportion_z",
    "kpi_value": "mann_whitney_u",
}
# Mann-Whitney needs the values themselves: at most this many of the newest per cohort.
MAX_RANK_SAMPLE = 100_000
MAX_STAGES = 10


# ---------------------------------------------------------------------------------------------
# The split


def rollout_for_runtime(*, tenant_id: int, family: str) -> dict[str, Any] | None:
    """The live split of a family (a RUNNING or PAUSED rollout with exposure), one indexed
    read: id, percent and the candidate's id, version and payload."""
    return (
        Rollout.objects.filter(
            tenant_id=tenant_id,
            family__name=family,
            state__in=[RolloutState.RUNNING, RolloutState.PAUSED],
            percent__gt=0,
        )
        .values("pk", "percent", "candidate_id", "candidate__version", "candidate__payload")
        .first()
    )


def config_for_case(*, tenant_id: int, family: str, client_id: str) -> dict[str, Any] | None:
    """The config a case should run with: a live rollout's candidate for a case in its
    cohort (with the rollout and cohort named), else None (the ACTIVE version applies)."""
    split = rollout_for_runtime(tenant_id=tenant_id, family=family)
    if split is None:
        return None
    cohort = {"id": split["pk"], "percent": split["percent"]}
    if not in_candidate_cohort(
        rollout_id=split["pk"], client_id=client_id, percent=split["percent"]
    ):
        return {"rollout": {**cohort, "cohort": "baseline"}}
    return {
        "id": split["candidate_id"],
        "family": family,
        "version": split["candidate__version"],
        "payload": split["candidate__payload"],
        "activated_at": None,
        "rollout": {**cohort, "cohort": "candidate"},
    }


# ---------------------------------------------------------------------------------------------
# Plans


def _plan_errors(stages: Any, guards: Any, significance_level: float) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(stages, list) or not 1 <= len(stages) <= MAX_STAGES:
        return {"stages": [f"give 1 to {MAX_STAGES} stages"]}
    last = 0
    for i, stage in enumerate(stages):
        keys = {"percent", "min_duration_seconds", "min_decisions"}
        if not isinstance(stage, dict) or not set(stage) <= keys or "percent" not in stage:
            errors.setdefault("stages", []).append(
                f"stage {i}: percent, min_duration_seconds, min_decisions"
            )
            continue
        percent = stage["percent"]
        if not isinstance(percent, int) or isinstance(percent, bool) or not last < percent <= 100:
            errors.setdefault("stages", []).append(
                f"stage {i}: percent must be an integer above the previous stage's, at most 100"
            )
        else:
            last = percent
        for key in ("min_duration_seconds", "min_decisions"):
            value = stage.get(key, 0)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                errors.setdefault("stages", []).append(f"stage {i}: {key} must be >= 0")
    if last != 100 and "stages" not in errors:
        errors["stages"] = ["the last stage must be at 100%"]
    if not isinstance(guards, list):
        return {**errors, "guards": ["must be a list"]}
    for i, guard in enumerate(guards):
        kpi = isinstance(guard, dict) and str(guard.get("metric", "")).startswith("kpi_")
        if kpi and not (isinstance(guard.get("domain"), str) and isinstance(guard.get("kpi"), str)):
            errors.setdefault("guards", []).append(f"guard {i}: a KPI guard names domain and kpi")
        if (
            not isinstance(guard, dict)
            or guard.get("metric") not in GUARD_METRICS
            or not isinstance(guard.get("max_relative_regression"), int | float)
            or not 0 <= guard["max_relative_regression"] < 1
        ):
            errors.setdefault("guards", []).append(
                f"guard {i}: metric one of {list(GUARD_METRICS)} and max_relative_regression "
                "in [0, 1)"
            )
    if len(stages) > 1 and not guards:
        errors.setdefault("guards", []).append("a staged rollout needs at least one guard")
    if not 0 < significance_level < 1:
        errors["significance_level"] = ["must be in (0, 1)"]
    return errors


def _history(row: Rollout, event: str, now: dt.datetime, **extra: Any) -> None:
    # Every change of state, stage or exposure is recorded here: the family's cached runtime
    # read (which carries the split's descriptor, and its ETag) is dropped once it commits.
    _invalidate_active_on_commit(row.candidate)
    row.history = [
        *row.history,
        {"at": iso_utc(now), "event": event, "percent": row.percent, **extra},
    ]


def _plan_summary(row: Rollout) -> dict[str, Any]:
    return {
        "candidate": row.candidate.version,
        "family": row.family.name,
        "stages": row.stages,
        "guards": row.guards,
        "significance_level": row.significance_level,
        "inconclusive_limit": row.inconclusive_limit,
    }


@transaction.atomic
def rollout_create(
    *,
    version: ConfigVersion,
    stages: list[dict[str, Any]],
    guards: list[dict[str, Any]],
    actor: Actor,
    significance_level: float = 0.05,
    inconclusive_limit: int = 3,
    acknowledge_breaking: bool = False,
    now: dt.datetime | None = None,
) -> Rollout:
    """A plan for an APPROVED version (a machine or a person may draft one; it does nothing
    until a reviewer starts it). One live plan per family."""
    now = now or timezone.now()
    if version.state != VersionState.APPROVED:
        raise TransitionConflict(
            f"only an APPROVED version can be rolled out; v{version.version} is {version.state}",
            current_state=version.state,
        )
    errors = _plan_errors(stages, guards, significance_level)
    if errors:
        raise ValidationFailed(errors)
    guards = [{**guard, "test": GUARD_TESTS[guard["metric"]]} for guard in guards]
    stages = [{"min_duration_seconds": 0, "min_decisions": 0, **stage} for stage in stages]
    try:
        with transaction.atomic():
            row = Rollout.objects.create(
                tenant_id=version.tenant_id,
                family_id=version.family_id,
                candidate=version,
                stages=stages,
                guards=guards,
                significance_level=significance_level,
                inconclusive_limit=inconclusive_limit,
                acknowledge_breaking=acknowledge_breaking,
                created_by_label=actor.label,
                created_at=now,
            )
    except IntegrityError as exc:
        raise TransitionConflict(
            f"family {version.family.name} already has a live rollout",
            current_state="LIVE_ROLLOUT",
        ) from exc
    ledger_append(
        tenant=row.tenant_id,
        kind=LedgerKind.ROLLOUT_PLANNED,
        actor=actor,
        subject=row,
        payload=_plan_summary(row),
        now=now,
    )
    return row


def _active_of(row: Rollout) -> ConfigVersion | None:
    return ConfigVersion.objects.filter(
        tenant_id=row.tenant_id, family_id=row.family_id, state=VersionState.ACTIVE
    ).first()


def _require_startable(row: Rollout) -> ConfigVersion | None:
    from governance.services.versions import is_stale

    candidate = ConfigVersion.objects.get(pk=row.candidate_id)
    if candidate.state != VersionState.APPROVED:
        raise TransitionConflict(
            f"v{candidate.version} is {candidate.state}, no longer APPROVED",
            current_state=candidate.state,
        )
    active = _active_of(row)
    if active is not None and is_stale(candidate, active):
        raise TransitionConflict(
            f"v{candidate.version} is not based on the active v{active.version}: rebase it first",
            current_state=candidate.state,
            code="stale_base",
        )
    if active is None and len(row.stages) > 1:
        raise TransitionConflict(
            "no ACTIVE version to compare with: activate the candidate instead",
            current_state="NO_ACTIVE_VERSION",
        )
    return active


def _begin(row: Rollout, now: dt.datetime) -> Rollout:
    """The first stage is entered; a single 100% stage (a scheduled activation) completes."""
    if row.percent >= 100:
        return _complete(row, now=now, reason="the plan's first stage is 100%")
    return row


@transaction.atomic
def rollout_start(
    *,
    rollout: Rollout,
    user: Any,
    reason: str,
    start_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Rollout:
    """The reviewer approves the plan and starts it now, or schedules it for ``start_at``."""
    now = now or timezone.now()
    schedule = start_at is not None and start_at > now
    holder: dict[str, Any] = {}

    def check(row: Rollout) -> None:
        holder["active"] = _require_startable(row)

    def after(row: Rollout) -> None:
        if not schedule:
            row.baseline = holder["active"]
            _history(row, "started", now, stage=0)

    row = govern_transition(
        obj=rollout,
        transition="approve_and_schedule" if schedule else "approve_and_start",
        kind=LedgerKind.ROLLOUT_SCHEDULED if schedule else LedgerKind.ROLLOUT_APPROVED,
        what="approve and schedule the rollout" if schedule else "approve and start the rollout",
        user=user,
        human=True,
        reason=reason,
        kwargs={"user": user, "now": now, "at": start_at}
        if schedule
        else {"user": user, "now": now},
        payload={**_plan_summary(rollout), "start_at": iso_utc(start_at) if schedule else None},
        before_transition=check,
        after_transition=after,
        now=now,
    )
    return row if schedule else _begin(row, now)


@transaction.atomic
def rollout_cancel(*, rollout: Rollout, user: Any, reason: str, now: dt.datetime | None = None):
    now = now or timezone.now()
    return govern_transition(
        obj=rollout,
        transition="cancel",
        kind=LedgerKind.ROLLOUT_CANCELLED,
        what="cancel the rollout",
        user=user,
        human=True,
        reason=reason,
        kwargs={"now": now},
        after_transition=lambda row: _history(row, "cancelled", now),
        now=now,
    )


def rollouts_start_due(*, now: dt.datetime | None = None) -> int:
    """Beat: start every scheduled rollout whose time has come. Each start is claimed with a
    conditional update, so concurrent beats start it once."""
    now = now or timezone.now()
    started = 0
    due = Rollout.objects.filter(state=RolloutState.SCHEDULED, scheduled_at__lte=now)
    for pk, seq in due.order_by("scheduled_at", "pk").values_list("pk", "analysis_seq"):
        with transaction.atomic():
            claimed = Rollout.objects.filter(
                pk=pk, state=RolloutState.SCHEDULED, analysis_seq=seq
            ).update(analysis_seq=F("analysis_seq") + 1)
            if claimed != 1:
                continue
            row = Rollout.objects.select_related("candidate", "family").get(pk=pk)
            try:
                with transaction.atomic():
                    active = _require_startable(row)
            except DomainError as exc:
                _abort(row, now=now, analysis={"reason": f"could not start: {exc.message}"})
                continue

            def after(r: Rollout, active=active) -> None:
                r.baseline = active
                _history(r, "started", now, stage=0, scheduled=True)

            row = govern_transition(
                obj=row,
                lock=False,
                transition="start",
                kind=LedgerKind.ROLLOUT_STARTED,
                what="start the scheduled rollout",
                actor=ROLLOUT_ACTOR,
                human=False,
                kwargs={"now": now},
                payload={"scheduled_at": iso_utc(row.scheduled_at), "approved_by": _approver(row)},
                after_transition=after,
                now=now,
            )
            _begin(row, now)
            started += 1
    return started


def _approver(row: Rollout) -> str | None:
    return f"user:{row.approved_by.get_username()}" if row.approved_by_id else None


def _human_act(transition: str, kind: LedgerKind, what: str, event: str):
    @transaction.atomic
    def act(*, rollout: Rollout, user: Any, reason: str, now: dt.datetime | None = None):
        now = now or timezone.now()
        kwargs = {"now": now} if transition == "abort" else {}
        row = govern_transition(
            obj=rollout,
            transition=transition,
            kind=kind,
            what=what,
            user=user,
            human=True,
            reason=reason,
            kwargs=kwargs,
            after_transition=lambda row: _history(row, event, now, by=user.get_username()),
            now=now,
        )
        return row

    act.__name__ = f"rollout_{transition}"
    return act


rollout_pause = _human_act("pause", LedgerKind.ROLLOUT_PAUSED, "pause the rollout", "paused")
rollout_resume = _human_act("resume", LedgerKind.ROLLOUT_RESUMED, "resume the rollout", "resumed")
rollout_abort = _human_act("abort", LedgerKind.ROLLOUT_ABORTED, "abort the rollout", "aborted")


# ---------------------------------------------------------------------------------------------
# Analysis


def cohort_counts(
    *, tenant_id: int, version_ids: list[int], since: dt.datetime, until: dt.datetime
) -> dict[int, dict[str, int]]:
    """Per version: decisions, decisions with a known outcome, and correct ones, over
    [since, until]. One aggregate statement on ``decision_version_idx``."""
    from calibration.models import Decision

    rows = (
        Decision.objects.filter(
            tenant_id=tenant_id,
            config_version_ref_id__in=version_ids,
            decided_at__gte=since,
            decided_at__lte=until,
        )
        .values("config_version_ref_id")
        .annotate(
            decisions=Count("id"),
            outcomes=Count("was_correct"),
            successes=Count("id", filter=Q(was_correct=True)),
        )
        .order_by()
    )
    counts = {pk: {"decisions": 0, "outcomes": 0, "successes": 0} for pk in version_ids}
    for row in rows:
        counts[row["config_version_ref_id"]] = {
            "decisions": row["decisions"],
            "outcomes": row["outcomes"],
            "successes": row["successes"],
        }
    return counts


def _wilson(successes: int, n: int, z: float = 1.959964) -> list[float] | None:
    if n == 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(centre - half, 6), round(centre + half, 6)]


def two_proportion_p_value(
    *, successes_baseline: int, n_baseline: int, successes_candidate: int, n_candidate: int
) -> float:
    """One-sided: is the candidate's rate lower than the baseline's?"""
    p1, p2 = successes_baseline / n_baseline, successes_candidate / n_candidate
    pooled = (successes_baseline + successes_candidate) / (n_baseline + n_candidate)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_baseline + 1 / n_candidate))
    if se == 0:
        return 1.0 if p2 >= p1 else 0.0
    # The standard normal's upper tail, without importing scipy at start-up.
    return 0.5 * math.erfc((p1 - p2) / se / math.sqrt(2))


def kpi_cohorts(
    *,
    tenant_id: int,
    guard: dict[str, Any],
    version_ids: list[int],
    since: dt.datetime,
    until: dt.datetime,
) -> dict[int, dict[str, Any]]:
    """Per version, a KPI guard's sample: for a rate one aggregate statement (events with a
    success flag, successes); for values the newest MAX_RANK_SAMPLE values of each cohort
    (a rank test needs the values), on ``kpi_version_idx``."""
    from tripwire.models import KPIEvent

    events = KPIEvent.objects.filter(
        tenant_id=tenant_id,
        domain=guard["domain"],
        metric=guard["kpi"],
        config_version_id__in=version_ids,
        created_at__gte=since,
        created_at__lte=until,
    )
    if guard["metric"] == "kpi_rate":
        counts = {pk: {"outcomes": 0, "successes": 0} for pk in version_ids}
        rows = (
            events.values("config_version_id")
            .annotate(outcomes=Count("success"), successes=Count("id", filter=Q(success=True)))
            .order_by()
        )
        for row in rows:
            counts[row["config_version_id"]] = {
                "outcomes": row["outcomes"],
                "successes": row["successes"],
            }
        return counts
    return {
        pk: {
            "values": list(
                events.filter(config_version_id=pk, value__isnull=False)
                .order_by("-created_at", "-id")
                .values_list("value", flat=True)[:MAX_RANK_SAMPLE]
            )
        }
        for pk in version_ids
    }


def _judge_values(
    guard: dict[str, Any], baseline: list[float], candidate: list[float], alpha: float
) -> dict[str, Any]:
    """Mann-Whitney U (one-sided: candidate values tend lower) and the relative regression
    of the mean, higher being better."""
    nb, nc = len(baseline), len(candidate)
    out: dict[str, Any] = {
        "metric": guard["metric"],
        "test": guard["test"],
        "kpi": f"{guard['domain']}.{guard['kpi']}",
        "max_relative_regression": guard["max_relative_regression"],
        "baseline": {"n": nb, "rate": None, "ci95": None},
        "candidate": {"n": nc, "rate": None, "ci95": None},
        "relative_regression": None,
        "p_value": None,
    }
    if nb < MIN_SAMPLES_TO_ABORT or nc < MIN_SAMPLES_TO_ABORT:
        return {**out, "verdict": "insufficient"}
    # scipy.stats takes seconds to import: only a value guard with enough samples needs it.
    from scipy import stats

    for side, values in (("baseline", baseline), ("candidate", candidate)):
        mean = sum(values) / len(values)
        sem = stats.sem(values) if len(set(values)) > 1 else 0.0
        out[side]["rate"] = round(mean, 6)
        out[side]["ci95"] = [round(mean - 1.959964 * sem, 6), round(mean + 1.959964 * sem, 6)]
    mb, mc = out["baseline"]["rate"], out["candidate"]["rate"]
    regression = (mb - mc) / abs(mb) if mb else (0.0 if mc >= mb else math.inf)
    if len(set(baseline) | set(candidate)) == 1:
        p = 1.0
    else:
        p = float(stats.mannwhitneyu(candidate, baseline, alternative="less").pvalue)
    out["relative_regression"] = round(regression, 6) if math.isfinite(regression) else None
    out["p_value"] = round(p, 8)
    return {**out, "verdict": _verdict(regression, p, guard["max_relative_regression"], alpha)}


def _verdict(regression: float, p: float, limit: float, alpha: float) -> str:
    if regression > limit and p < alpha:
        return "fail"
    if regression <= limit:
        return "pass"
    return "inconclusive"


def judge_guard(
    guard: dict[str, Any], baseline: dict[str, Any], candidate: dict[str, Any], alpha: float
) -> dict[str, Any]:
    """pass / fail / inconclusive / insufficient for one guard over the two cohorts."""
    if guard["metric"] == "kpi_value":
        return _judge_values(guard, baseline["values"], candidate["values"], alpha)
    nb, nc = baseline["outcomes"], candidate["outcomes"]
    out: dict[str, Any] = {
        "metric": guard["metric"],
        "test": guard["test"],
        "max_relative_regression": guard["max_relative_regression"],
        "baseline": {"n": nb, "rate": None, "ci95": _wilson(baseline["successes"], nb)},
        "candidate": {"n": nc, "rate": None, "ci95": _wilson(candidate["successes"], nc)},
        "relative_regression": None,
        "p_value": None,
    }
    if nb < MIN_SAMPLES_TO_ABORT or nc < MIN_SAMPLES_TO_ABORT:
        return {**out, "verdict": "insufficient"}
    rb, rc = baseline["successes"] / nb, candidate["successes"] / nc
    regression = (rb - rc) / rb if rb > 0 else (0.0 if rc >= rb else math.inf)
    p = two_proportion_p_value(
        successes_baseline=baseline["successes"],
        n_baseline=nb,
        successes_candidate=candidate["successes"],
        n_candidate=nc,
    )
    out["baseline"]["rate"], out["candidate"]["rate"] = round(rb, 6), round(rc, 6)
    out["relative_regression"] = round(regression, 6) if math.isfinite(regression) else None
    out["p_value"] = round(p, 8)
    return {**out, "verdict": _verdict(regression, p, guard["max_relative_regression"], alpha)}


def rollout_measure(row: Rollout, now: dt.datetime) -> dict[str, Any]:
    """The stage's analysis, read-only: cohort counts, each guard's verdict, readiness and
    the decision it implies (abort, advance, complete, inconclusive or wait)."""
    stage = row.stage or {}
    if row.baseline is not None and row.baseline.state != VersionState.ACTIVE:
        # Someone activated or rolled back the family meanwhile: the comparison is void and
        # completing would undo their change.
        return {
            "stage": row.stage_index,
            "percent": row.percent,
            "at": iso_utc(now),
            "reason": f"v{row.baseline.version}, the version compared with, is no longer ACTIVE",
            "guards": [],
            "decision": "abort",
        }
    counts = cohort_counts(
        tenant_id=row.tenant_id,
        version_ids=[row.baseline_id, row.candidate_id],
        since=row.stage_started_at,
        until=now,
    )
    baseline, candidate = counts[row.baseline_id], counts[row.candidate_id]
    guards = []
    for guard in row.guards:
        if guard["metric"] == "success_rate":
            sides = (baseline, candidate)
        else:
            sample = kpi_cohorts(
                tenant_id=row.tenant_id,
                guard=guard,
                version_ids=[row.baseline_id, row.candidate_id],
                since=row.stage_started_at,
                until=now,
            )
            sides = (sample[row.baseline_id], sample[row.candidate_id])
        guards.append(judge_guard(guard, *sides, row.significance_level))
    elapsed = (now - row.stage_started_at).total_seconds()
    ready = elapsed >= stage.get("min_duration_seconds", 0) and min(
        baseline["outcomes"], candidate["outcomes"]
    ) >= stage.get("min_decisions", 0)
    verdicts = {g["verdict"] for g in guards}
    if "fail" in verdicts:
        decision = "abort"
    elif not ready or "insufficient" in verdicts:
        decision = "wait"
    elif verdicts <= {"pass"}:
        last = (
            row.stage_index + 1 >= len(row.stages)
            or row.stages[row.stage_index + 1]["percent"] >= 100
        )
        decision = "complete" if last else "advance"
    else:
        decision = "inconclusive"
    return {
        "stage": row.stage_index,
        "percent": row.percent,
        "at": iso_utc(now),
        "elapsed_seconds": int(elapsed),
        "ready": ready,
        "cohorts": {"baseline": baseline, "candidate": candidate},
        "guards": guards,
        "decision": decision,
    }


def _abort(row: Rollout, *, now: dt.datetime, analysis: dict[str, Any]) -> Rollout:
    row = govern_transition(
        obj=row,
        lock=False,
        transition="abort",
        kind=LedgerKind.ROLLOUT_ABORTED,
        what="abort the rollout",
        actor=ROLLOUT_ACTOR,
        human=False,
        kwargs={"now": now},
        payload={"analysis": analysis, "candidate": row.candidate.version},
        after_transition=lambda r: _history(r, "aborted", now, stage=r.stage_index),
        now=now,
    )
    failing = [g for g in analysis.get("guards", []) if g["verdict"] == "fail"]
    detail = "; ".join(
        f"{g['metric']} {g['baseline']['rate']} -> {g['candidate']['rate']} (p={g['p_value']})"
        for g in failing
    ) or analysis.get("reason", "")
    checkpoint_open(
        tenant=row.tenant,
        checkpoint_type=CheckpointType.ROLLOUT_ABORTED,
        description=(
            f"Rollout of {row.family.name} v{row.candidate.version} aborted at "
            f"{analysis.get('percent', 0)}%: {detail}. All traffic is back on the current "
            "version."
        ),
        subject=row,
        priority=CheckpointPriority.CRITICAL,
        blocking=True,
        actor=ROLLOUT_ACTOR,
        now=now,
    )
    return row


def _complete(row: Rollout, *, now: dt.datetime, reason: str) -> Rollout:
    from governance.services.versions import version_activate_by_rollout

    try:
        with transaction.atomic():
            version_activate_by_rollout(
                version=row.candidate,
                actor=ROLLOUT_ACTOR,
                acknowledge_breaking=row.acknowledge_breaking,
                reason=f"guarded rollout {row.pk} completed ({reason}); plan approved by "
                f"{_approver(row)}",
                now=now,
            )
    except DomainError as exc:
        return _abort(row, now=now, analysis={"reason": f"activation refused: {exc.message}"})
    return govern_transition(
        obj=row,
        lock=False,
        transition="complete",
        kind=LedgerKind.ROLLOUT_COMPLETED,
        what="complete the rollout",
        actor=ROLLOUT_ACTOR,
        human=False,
        kwargs={"now": now},
        payload={"candidate": row.candidate.version, "reason": reason},
        after_transition=lambda r: _history(r, "completed", now),
        now=now,
    )


def rollout_analyze(*, rollout: Rollout | int, now: dt.datetime | None = None) -> dict | None:
    """Analyse a RUNNING rollout's stage and apply the decision. Safe to run twice or
    concurrently: the analysis is read without locks, then applied only by the caller whose
    conditional update of (state, stage, analysis_seq) changes exactly one row; a loser
    returns None."""
    now = now or timezone.now()
    pk = rollout if isinstance(rollout, int) else rollout.pk
    row = Rollout.objects.select_related("candidate", "baseline", "family", "tenant").get(pk=pk)
    if row.state != RolloutState.RUNNING:
        return None
    analysis = rollout_measure(row, now)
    with transaction.atomic():
        claimed = Rollout.objects.filter(
            pk=pk,
            state=RolloutState.RUNNING,
            stage_index=row.stage_index,
            analysis_seq=row.analysis_seq,
        ).update(analysis_seq=F("analysis_seq") + 1, analysis=analysis, analyzed_at=now)
        if claimed != 1:
            return None
        row = Rollout.objects.select_related("candidate", "family", "tenant").get(pk=pk)
        decision = analysis["decision"]
        if decision == "abort":
            _abort(row, now=now, analysis=analysis)
        elif decision == "complete":
            _complete(row, now=now, reason=f"stage {row.stage_index} guards passed")
        elif decision == "advance":
            govern_transition(
                obj=row,
                lock=False,
                transition="advance",
                kind=LedgerKind.ROLLOUT_ADVANCED,
                what="advance the rollout",
                actor=ROLLOUT_ACTOR,
                human=False,
                kwargs={"now": now},
                payload={
                    "analysis": analysis,
                    "to_percent": row.stages[row.stage_index + 1]["percent"],
                },
                after_transition=lambda r: _history(r, "advanced", now, stage=r.stage_index),
                now=now,
            )
        elif decision == "inconclusive":
            _inconclusive(row, now=now, analysis=analysis)
    return analysis


def _inconclusive(row: Rollout, *, now: dt.datetime, analysis: dict[str, Any]) -> None:
    """Count an inconclusive analysis only when the cohorts grew since the last one (a beat
    that runs again over the same data learns nothing new); past the limit, pause for a
    reviewer, as Argo Rollouts does past ``inconclusiveLimit``."""
    last = (row.history or [{}])[-1]
    sizes = [analysis["cohorts"][c]["outcomes"] for c in ("baseline", "candidate")]
    if last.get("event") == "inconclusive" and last.get("sizes") == sizes:
        return
    row = govern_transition(
        obj=row,
        lock=False,
        transition="mark_inconclusive",
        kind=LedgerKind.ROLLOUT_INCONCLUSIVE,
        what="record an inconclusive analysis",
        actor=ROLLOUT_ACTOR,
        human=False,
        payload={"analysis": analysis},
        after_transition=lambda r: _history(r, "inconclusive", now, sizes=sizes),
        now=now,
    )
    if row.inconclusive_count > row.inconclusive_limit:
        row = govern_transition(
            obj=row,
            lock=False,
            transition="pause",
            kind=LedgerKind.ROLLOUT_PAUSED,
            what="pause the rollout",
            actor=ROLLOUT_ACTOR,
            human=False,
            payload={"reason": f"{row.inconclusive_count} inconclusive analyses"},
            after_transition=lambda r: _history(r, "paused", now, by="system:rollout"),
            now=now,
        )
        checkpoint_open(
            tenant=row.tenant,
            checkpoint_type=CheckpointType.REVIEW_REQUEST,
            description=(
                f"Rollout of {row.family.name} v{row.candidate.version} paused at {row.percent}%:"
                f" {row.inconclusive_count} inconclusive analyses. Resume or abort it."
            ),
            subject=row,
            priority=CheckpointPriority.HIGH,
            actor=ROLLOUT_ACTOR,
            now=now,
        )


def rollouts_analyze_running(*, now: dt.datetime | None = None) -> int:
    """Beat: analyse every RUNNING rollout. Returns how many analyses this worker applied."""
    applied = 0
    for pk in (
        Rollout.objects.filter(state=RolloutState.RUNNING)
        .order_by("pk")
        .values_list("pk", flat=True)
    ):
        if rollout_analyze(rollout=pk, now=now) is not None:
            applied += 1
    return applied
