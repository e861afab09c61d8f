"""Per-pattern adaptive confidence (seed 000, ``PatternCalibration``).

Each recorded outcome is one (confidence, was_correct) row. Once a pattern has at least
``MIN_SAMPLES`` outcomes its empirical thresholds are recalibrated with this rule:

    threshold(target) = the smallest observed confidence c such that the precision of the
                        outcomes with confidence >= c is at least ``target``
                        (None when no observed confidence reaches the target)

with ``STRONG_PRECISION`` for the strong threshold and ``WEAK_PRECISION`` for the weak one.
Because every c meeting the strong target also meets the (lower) weak target, weak <= strong.
Below the minimum, or before the first recalibration, a pattern bands by the defaults
(STRONG >= 0.85, WEAK >= 0.6, otherwise NOVEL).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from governance.models import Tenant

__all__ = [
    "DEFAULT_STRONG_THRESHOLD",
    "DEFAULT_WEAK_THRESHOLD",
    "MIN_SAMPLES",
    "STRONG_PRECISION",
    "WEAK_PRECISION",
    "PatternBand",
    "PatternCalibration",
    "PatternOutcome",
    "band_for",
]

DEFAULT_STRONG_THRESHOLD = 0.85
DEFAULT_WEAK_THRESHOLD = 0.6
MIN_SAMPLES = 20
STRONG_PRECISION = 0.9
WEAK_PRECISION = 0.7


class PatternBand(models.TextChoices):
    STRONG = "STRONG"
    WEAK = "WEAK"
    NOVEL = "NOVEL"


def band_for(confidence: float, strong: float | None, weak: float | None) -> str:
    """A threshold of None is unreachable: no observed confidence met its precision target."""
    if strong is not None and confidence >= strong:
        return PatternBand.STRONG.value
    if weak is not None and confidence >= weak:
        return PatternBand.WEAK.value
    return PatternBand.NOVEL.value


class PatternCalibration(models.Model):
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="pattern_calibrations"
    )
    pattern = models.CharField(max_length=200, help_text="The pattern key (signature id).")
    total_matches = models.PositiveIntegerField(default=0)
    correct_matches = models.PositiveIntegerField(default=0)
    false_positives = models.PositiveIntegerField(
        default=0, help_text="Outcomes where the pattern matched but was wrong."
    )
    empirical_strong_threshold = models.FloatField(null=True, blank=True)
    empirical_weak_threshold = models.FloatField(null=True, blank=True)
    calibrated_samples = models.PositiveIntegerField(
        default=0, help_text="Outcomes the current thresholds were computed from."
    )
    last_outcome_at = models.DateTimeField(null=True, blank=True)
    recalibrated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["tenant_id", "pattern"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "pattern"], name="patterncal_unique_tenant_pattern"
            ),
            models.CheckConstraint(
                condition=Q(correct_matches__lte=models.F("total_matches")),
                name="patterncal_correct_lte_total",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "last_outcome_at"], name="patterncal_outcome_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}:{self.pattern}"

    @property
    def accuracy(self) -> float | None:
        if not self.total_matches:
            return None
        return self.correct_matches / self.total_matches

    @property
    def is_calibrated(self) -> bool:
        return self.calibrated_samples >= MIN_SAMPLES

    @property
    def strong_threshold(self) -> float | None:
        return self.empirical_strong_threshold if self.is_calibrated else DEFAULT_STRONG_THRESHOLD

    @property
    def weak_threshold(self) -> float | None:
        return self.empirical_weak_threshold if self.is_calibrated else DEFAULT_WEAK_THRESHOLD

    def get_calibrated_band(self, confidence: float) -> str:
        return band_for(confidence, self.strong_threshold, self.weak_threshold)

    @property
    def needs_recalibration(self) -> bool:
        return self.total_matches >= MIN_SAMPLES and self.total_matches > self.calibrated_samples


class PatternOutcome(models.Model):
    calibration = models.ForeignKey(
        PatternCalibration, on_delete=models.CASCADE, related_name="outcomes"
    )
    confidence = models.FloatField()
    was_correct = models.BooleanField()
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(confidence__gte=0) & Q(confidence__lte=1),
                name="patternoutcome_confidence_0_1",
            )
        ]
        indexes = [
            models.Index(fields=["calibration", "confidence"], name="patternoutcome_conf_idx")
        ]

    def __str__(self) -> str:
        return f"{self.calibration_id}: {self.confidence} {'ok' if self.was_correct else 'wrong'}"
