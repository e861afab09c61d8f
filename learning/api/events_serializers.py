"""Serializers of the learning events API. Ingestion validates with ``governance.ingest`` (one
pass over up to 10,000 events); these serializers describe the shapes for the schema and
validate the small requests."""

from __future__ import annotations

from rest_framework import serializers

from governance.api.serializers_base import StrictSerializer
from governance.api.settings_serializers import SettingsChangeSerializer
from learning.models import EventType

EVENT_TYPE_CHOICES = [*EventType.values, *(value.upper() for value in EventType.values)]

# The range of the PositiveIntegerField columns these settings are stored in.
MAX_POSITIVE_INT = 2**31 - 1


class EventInSerializer(StrictSerializer):
    event_type = serializers.ChoiceField(choices=EVENT_TYPE_CHOICES)
    source_engine = serializers.CharField(max_length=100)
    subject = serializers.CharField(max_length=64, required=False, help_text="e.g. a symbol")
    symbol = serializers.CharField(max_length=64, required=False, help_text="alias of subject")
    timestamp = serializers.DateTimeField(required=False, help_text="default: now")
    payload = serializers.JSONField(required=False)
    outcome = serializers.FloatField(required=False, allow_null=True)
    event_id = serializers.CharField(
        max_length=64, required=False, help_text="client id: a repeated id is stored once"
    )


class EventBatchInSerializer(StrictSerializer):
    events = EventInSerializer(many=True, help_text="1 to 10,000 events, all or nothing")


class EventIngestResultSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    stored = serializers.IntegerField()
    duplicates = serializers.IntegerField()


class EventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    event_type = serializers.ChoiceField(choices=EventType.values)
    source_engine = serializers.CharField()
    subject = serializers.CharField(allow_blank=True)
    timestamp = serializers.DateTimeField()
    payload = serializers.JSONField()
    outcome = serializers.FloatField(allow_null=True)
    confidence = serializers.FloatField(allow_null=True)
    win = serializers.BooleanField(allow_null=True)
    event_id = serializers.CharField(allow_null=True)
    recorded_at = serializers.DateTimeField()


class EventQuerySerializer(StrictSerializer):
    event_type = serializers.ChoiceField(choices=EVENT_TYPE_CHOICES, required=False)
    source_engine = serializers.CharField(max_length=100, required=False)
    subject = serializers.CharField(max_length=64, required=False)
    start = serializers.DateTimeField(required=False, help_text="inclusive")
    end = serializers.DateTimeField(required=False, help_text="exclusive")
    limit = serializers.IntegerField(min_value=1, max_value=100_000, default=100)
    order = serializers.ChoiceField(choices=["asc", "desc"], default="desc")

    def validate(self, attrs):
        if attrs.get("start") and attrs.get("end") and attrs["start"] >= attrs["end"]:
            raise serializers.ValidationError({"end": ["must be after start"]})
        return attrs


class EventPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = EventSerializer(many=True)


class LearningStatsSerializer(serializers.Serializer):
    events_buffered = serializers.IntegerField()
    events_by_type = serializers.DictField(child=serializers.IntegerField())
    training_jobs = serializers.IntegerField()
    model_versions = serializers.IntegerField()
    production_models = serializers.IntegerField()
    evaluations = serializers.IntegerField()
    drift_alerts = serializers.IntegerField()


class LearningEngineConfigSerializer(StrictSerializer):
    """The seed's LearningEngineConfig (collection, storage, training, evaluation, drift)."""

    engine_id = serializers.SlugField(max_length=64, required=False)
    engine_name = serializers.CharField(max_length=100, required=False)
    max_events_memory = serializers.IntegerField(
        min_value=1, max_value=MAX_POSITIVE_INT, required=False
    )
    collect_signals = serializers.BooleanField(required=False)
    collect_executions = serializers.BooleanField(required=False)
    collect_portfolio = serializers.BooleanField(required=False)
    collect_risk = serializers.BooleanField(required=False)
    collect_predictions = serializers.BooleanField(required=False)
    retention_days = serializers.IntegerField(
        min_value=1, max_value=MAX_POSITIVE_INT, allow_null=True, required=False
    )
    min_samples_for_training = serializers.IntegerField(
        min_value=2, max_value=MAX_POSITIVE_INT, required=False
    )
    training_batch_size = serializers.IntegerField(
        min_value=1, max_value=MAX_POSITIVE_INT, required=False
    )
    require_eval_pass = serializers.BooleanField(required=False)
    eval_benchmark_threshold = serializers.FloatField(
        min_value=0.0001, max_value=1.0, required=False
    )
    enable_drift_detection = serializers.BooleanField(required=False)
    drift_threshold_pct = serializers.FloatField(min_value=0.0001, max_value=10.0, required=False)


class LearningEngineConfigPatchSerializer(LearningEngineConfigSerializer):
    reason = serializers.CharField(
        max_length=2000,
        required=False,
        default="",
        help_text="Why; required when a change loosens a setting (it becomes a request).",
    )


class LearningEngineConfigPendingSerializer(serializers.Serializer):
    """A PATCH that loosens something: the config as it is now (any tightening half already
    applied) and the change requests waiting for a second reviewer."""

    config = LearningEngineConfigSerializer()
    change_requests = SettingsChangeSerializer(many=True)


class ConfidenceFilterInSerializer(StrictSerializer):
    threshold = serializers.FloatField(min_value=0.0, max_value=1.0)
    use_calibration = serializers.BooleanField(default=False)
    model = serializers.SlugField(max_length=100, default="confidence_calibrator")
    source_engine = serializers.CharField(max_length=100, required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


class FilterPerformanceSerializer(serializers.Serializer):
    trades = serializers.IntegerField()
    win_rate = serializers.FloatField(allow_null=True)
    avg_return = serializers.FloatField(allow_null=True)
    total_return = serializers.FloatField()
    sharpe_ratio = serializers.FloatField(allow_null=True)
    profit_factor = serializers.FloatField(allow_null=True)


class FilterImprovementSerializer(serializers.Serializer):
    win_rate_change_pct = serializers.FloatField(allow_null=True)
    sharpe_ratio_change = serializers.FloatField(allow_null=True)
    profit_factor_change = serializers.FloatField(allow_null=True)


class ConfidenceFilterReportSerializer(serializers.Serializer):
    baseline = FilterPerformanceSerializer()
    filtered = FilterPerformanceSerializer()
    improvement = FilterImprovementSerializer()
    applied_threshold = serializers.FloatField()
    confidence_key = serializers.CharField()
    use_calibration = serializers.BooleanField()
    calibrator = serializers.DictField(allow_null=True)
    rejected_trades = serializers.IntegerField()
    source_engine = serializers.CharField(allow_null=True)
