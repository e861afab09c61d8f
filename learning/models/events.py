"""Learning events (seed 004): typed, append-only records of what a governed system saw and
what came of it (signals and their outcomes, orders, positions, risk breaches, predictions,
aggregate metrics), and the per-tenant collection settings.

``confidence`` and ``win`` are typed copies of the payload's confidence and win flag, taken at
ingestion, so calibrator training and the confidence-filter report read two columns instead
of parsing JSON for a million rows."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from governance.models import Tenant

__all__ = [
    "EVENT_FAMILIES",
    "EventType",
    "LearningEngineConfig",
    "LearningEvent",
    "family_of",
]


class EventType(models.TextChoices):
    SIGNAL_GENERATED = "signal_generated"
    SIGNAL_ACCURACY = "signal_accuracy"
    METRIC_RECORDED = "metric_recorded"
    ORDER_SUBMITTED = "order_submitted"
    ORDER_FILLED = "order_filled"
    ORDER_PARTIALLY_FILLED = "order_partially_filled"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_REJECTED = "order_rejected"
    POSITION_OPENED = "position_opened"
    POSITION_UPDATED = "position_updated"
    POSITION_CLOSED = "position_closed"
    RISK_BREACH = "risk_breach"
    MODEL_PREDICTION = "model_prediction"


# Collection switch (a LearningEngineConfig field) -> the event types it governs.
# METRIC_RECORDED has no switch: aggregate metrics are always kept.
EVENT_FAMILIES: dict[str, tuple[str, ...]] = {
    "collect_signals": (EventType.SIGNAL_GENERATED, EventType.SIGNAL_ACCURACY),
    "collect_executions": (
        EventType.ORDER_SUBMITTED,
        EventType.ORDER_FILLED,
        EventType.ORDER_PARTIALLY_FILLED,
        EventType.ORDER_CANCELLED,
        EventType.ORDER_REJECTED,
    ),
    "collect_portfolio": (
        EventType.POSITION_OPENED,
        EventType.POSITION_UPDATED,
        EventType.POSITION_CLOSED,
    ),
    "collect_risk": (EventType.RISK_BREACH,),
    "collect_predictions": (EventType.MODEL_PREDICTION,),
}
_SWITCH_OF = {
    event_type: switch for switch, types in EVENT_FAMILIES.items() for event_type in types
}


def family_of(event_type: str) -> str | None:
    """The collection switch governing an event type (None: always collected)."""
    return _SWITCH_OF.get(event_type)


class LearningEngineConfig(models.Model):
    """The seed's ``LearningEngineConfig`` collection and storage settings of a tenant. Its
    training, evaluation and drift settings live with the calibrator registry
    (``calibration.CalibratorRegistryConfig``), which enforces them."""

    tenant = models.OneToOneField(
        Tenant, on_delete=models.CASCADE, related_name="learning_engine_config"
    )
    engine_id = models.SlugField(max_length=64, default="learning")
    engine_name = models.CharField(max_length=100, default="Learning Engine")
    max_events_memory = models.PositiveIntegerField(
        default=20000, help_text="The largest number of events one query returns."
    )
    collect_signals = models.BooleanField(default=True, help_text="SIGNAL_GENERATED/ACCURACY")
    collect_executions = models.BooleanField(default=True, help_text="ORDER_* events")
    collect_portfolio = models.BooleanField(default=True, help_text="POSITION_* events")
    collect_risk = models.BooleanField(default=True, help_text="RISK_BREACH")
    collect_predictions = models.BooleanField(default=True, help_text="MODEL_PREDICTION")
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        default=365,
        help_text="Events recorded longer ago than this are pruned daily (empty: keep all).",
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(max_events_memory__gte=1), name="lengine_max_events_memory_gte_1"
            ),
            models.CheckConstraint(
                condition=Q(retention_days__isnull=True) | Q(retention_days__gte=1),
                name="lengine_retention_days_gte_1",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.engine_name} ({self.tenant_id})"

    def collects(self, event_type: str) -> bool:
        switch = family_of(event_type)
        return switch is None or bool(getattr(self, switch))


class LearningEvent(models.Model):
    """One event. Append-only; pruned only by retention."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="learning_events")
    event_type = models.CharField(max_length=32, choices=EventType.choices)
    source_engine = models.CharField(max_length=100)
    subject = models.CharField(
        max_length=64, blank=True, default="", help_text="What the event is about (a symbol)."
    )
    timestamp = models.DateTimeField(help_text="When it happened (the event's own time).")
    payload = models.JSONField(default=dict, blank=True)
    outcome = models.FloatField(null=True, blank=True, help_text="Supervised target (return).")
    confidence = models.FloatField(null=True, blank=True)
    win = models.BooleanField(null=True, blank=True)
    event_id = models.CharField(max_length=64, null=True, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "event_id"],
                condition=Q(event_id__isnull=False),
                name="levent_unique_tenant_event_id",
            ),
            models.CheckConstraint(
                condition=Q(confidence__isnull=True)
                | (Q(confidence__gte=0) & Q(confidence__lte=1)),
                name="levent_confidence_range",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "event_type", "timestamp"], name="levent_type_time_idx"),
            models.Index(fields=["tenant", "timestamp"], name="levent_time_idx"),
            models.Index(
                fields=["tenant", "source_engine", "timestamp"], name="levent_source_time_idx"
            ),
            models.Index(fields=["tenant", "subject", "timestamp"], name="levent_subject_time_idx"),
            models.Index(fields=["tenant", "recorded_at"], name="levent_recorded_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.subject or ''} @ {self.timestamp:%Y-%m-%d %H:%M}"
