"""Use cases of per-pattern adaptive confidence (seed 000: ``PatternCalibration`` and
``AdaptiveConfidenceSystem``). The threshold rule is documented in
``calibration.models.patterns``."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from calibration.models import PatternCalibration, PatternOutcome
from calibration.models.patterns import MIN_SAMPLES, STRONG_PRECISION, WEAK_PRECISION
from governance.errors import ValidationFailed
from governance.models import Tenant


def empirical_threshold(
    confidences: Sequence[float], outcomes: Sequence[bool], target: float
) -> float | None:
    """The smallest observed confidence c such that the outcomes with confidence >= c have a
    precision of at least ``target``; None when no observed confidence reaches it."""
    if not len(confidences):
        return None
    conf = np.asarray(confidences, dtype=np.float64)
    correct = np.asarray(outcomes, dtype=np.float64)
    order = np.argsort(-conf, kind="stable")
    conf, correct = conf[order], correct[order]
    # Precision of "confidence >= c" at each distinct c: cumulative counts from the top,
    # read at the last position of each run of equal confidences.
    cumulative_correct = np.cumsum(correct)
    cumulative_n = np.arange(1, len(conf) + 1)
    last_of_run = np.append(conf[1:] != conf[:-1], True)
    candidates = conf[last_of_run]
    precision = cumulative_correct[last_of_run] / cumulative_n[last_of_run]
    meeting = candidates[precision >= target - 1e-12]
    return float(meeting.min()) if meeting.size else None


def _validate(pattern: str, confidence: float) -> None:
    errors: dict[str, list[str]] = {}
    if not pattern or len(pattern) > 200:
        errors["pattern"] = ["a pattern key of 1 to 200 characters"]
    if not 0.0 <= confidence <= 1.0:
        errors["confidence"] = ["must be between 0 and 1"]
    if errors:
        raise ValidationFailed(errors)


@transaction.atomic
def pattern_outcomes_record(
    *,
    tenant: Tenant,
    outcomes: Sequence[Mapping[str, Any]],
    now: dt.datetime | None = None,
) -> list[PatternCalibration]:
    """Record (pattern, confidence, was_correct) outcomes, all or nothing. Counters move with
    one conditional UPDATE per pattern; thresholds are recomputed by ``pattern_recalibrate``
    (the beat task picks the patterns with new outcomes)."""
    now = now or timezone.now()
    errors: dict[str, Any] = {}
    for index, row in enumerate(outcomes):
        try:
            _validate(row["pattern"], float(row["confidence"]))
        except ValidationFailed as exc:
            errors.update({f"{index}.{key}": value for key, value in exc.errors.items()})
    if errors:
        raise ValidationFailed(errors)
    patterns = sorted({row["pattern"] for row in outcomes})
    existing = {
        c.pattern: c for c in PatternCalibration.objects.filter(tenant=tenant, pattern__in=patterns)
    }
    missing = [p for p in patterns if p not in existing]
    if missing:
        PatternCalibration.objects.bulk_create(
            [PatternCalibration(tenant=tenant, pattern=p, created_at=now) for p in missing],
            ignore_conflicts=True,
        )
    # Lock in pattern order so that two concurrent batches cannot deadlock.
    rows = {
        c.pattern: c
        for c in PatternCalibration.objects.select_for_update()
        .filter(tenant=tenant, pattern__in=patterns)
        .order_by("pattern")
    }
    PatternOutcome.objects.bulk_create(
        PatternOutcome(
            calibration=rows[row["pattern"]],
            confidence=float(row["confidence"]),
            was_correct=bool(row["was_correct"]),
            recorded_at=now,
        )
        for row in outcomes
    )
    totals: Counter[str] = Counter(row["pattern"] for row in outcomes)
    correct: Counter[str] = Counter(row["pattern"] for row in outcomes if row["was_correct"])
    for pattern in patterns:
        PatternCalibration.objects.filter(pk=rows[pattern].pk).update(
            total_matches=F("total_matches") + totals[pattern],
            correct_matches=F("correct_matches") + correct[pattern],
            false_positives=F("false_positives") + (totals[pattern] - correct[pattern]),
            last_outcome_at=now,
        )
    return list(
        PatternCalibration.objects.filter(tenant=tenant, pattern__in=patterns).order_by("pattern")
    )


def pattern_outcome_record(
    *,
    tenant: Tenant,
    pattern: str,
    confidence: float,
    was_correct: bool,
    recalibrate: bool = False,
    now: dt.datetime | None = None,
) -> PatternCalibration:
    """The seed's ``record_outcome(confidence, was_correct)`` for one pattern; with
    ``recalibrate`` the thresholds are recomputed at once."""
    with transaction.atomic():
        (calibration,) = pattern_outcomes_record(
            tenant=tenant,
            outcomes=[{"pattern": pattern, "confidence": confidence, "was_correct": was_correct}],
            now=now,
        )
        if recalibrate:
            calibration = pattern_recalibrate(calibration=calibration, now=now)
    return calibration


@transaction.atomic
def pattern_recalibrate(
    *, calibration: PatternCalibration, now: dt.datetime | None = None
) -> PatternCalibration:
    """Recompute the empirical strong and weak thresholds from every recorded outcome once
    there are at least MIN_SAMPLES; below that the pattern stays uncalibrated."""
    now = now or timezone.now()
    calibration = PatternCalibration.objects.select_for_update().get(pk=calibration.pk)
    pairs = list(calibration.outcomes.values_list("confidence", "was_correct"))
    if len(pairs) < MIN_SAMPLES:
        return calibration
    confidences = [c for c, _ in pairs]
    outcomes = [o for _, o in pairs]
    calibration.empirical_strong_threshold = empirical_threshold(
        confidences, outcomes, STRONG_PRECISION
    )
    calibration.empirical_weak_threshold = empirical_threshold(
        confidences, outcomes, WEAK_PRECISION
    )
    calibration.calibrated_samples = len(pairs)
    calibration.recalibrated_at = now
    calibration.save(
        update_fields=[
            "empirical_strong_threshold",
            "empirical_weak_threshold",
            "calibrated_samples",
            "recalibrated_at",
        ]
    )
    return calibration


def patterns_needing_recalibration(*, tenant_id: int | None = None):
    # calibrated_samples counts the outcomes the thresholds were computed from: a pattern
    # with more outcomes than that has new ones.
    queryset = PatternCalibration.objects.filter(
        total_matches__gte=MIN_SAMPLES, total_matches__gt=F("calibrated_samples")
    )
    if tenant_id is not None:
        queryset = queryset.filter(tenant_id=tenant_id)
    return queryset


def patterns_recalibrate_pending(
    *, tenant_id: int | None = None, now: dt.datetime | None = None
) -> int:
    """Recalibrate only the patterns with outcomes newer than their last recalibration.
    Safe to run twice: the second run finds nothing new."""
    ids = list(patterns_needing_recalibration(tenant_id=tenant_id).values_list("pk", flat=True))
    for pk in ids:
        pattern_recalibrate(calibration=PatternCalibration(pk=pk), now=now)
    return len(ids)
