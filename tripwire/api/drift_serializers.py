"""Serializers of the drift API."""

from __future__ import annotations

from rest_framework import serializers

from governance.api.serializers_base import StrictSerializer
from tripwire.models import DriftAlert, DriftBaseline


class DriftBaselineInSerializer(StrictSerializer):
    model = serializers.SlugField(max_length=100)
    metrics = serializers.DictField(child=serializers.FloatField(), allow_empty=False)
    threshold_pct = serializers.FloatField(min_value=0.0001, required=False, allow_null=True)
    window_days = serializers.IntegerField(min_value=1, max_value=365, required=False)
    min_samples = serializers.IntegerField(min_value=1, required=False)
    reason = serializers.CharField(
        max_length=2000,
        required=False,
        default="",
        help_text="Why; required when the change loosens the detector (a reset, a higher "
        "threshold): it becomes a change request.",
    )


class DriftBaselineSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model_name")

    class Meta:
        model = DriftBaseline
        fields = [
            "id",
            "model",
            "metrics",
            "threshold_pct",
            "window_days",
            "min_samples",
            "set_at",
            "set_by_label",
            "last_checked_at",
        ]


class DriftCheckInSerializer(StrictSerializer):
    model = serializers.SlugField(max_length=100)
    current = serializers.DictField(child=serializers.FloatField(), allow_empty=False)


class DriftAlertSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model_name")

    class Meta:
        model = DriftAlert
        fields = [
            "id",
            "model",
            "metric",
            "baseline_value",
            "current_value",
            "change_pct",
            "threshold_pct",
            "state",
            "created_at",
            "acknowledged_at",
            "acknowledgement_reason",
        ]


class DriftChangeSerializer(serializers.Serializer):
    metric = serializers.CharField()
    baseline = serializers.FloatField()
    current = serializers.FloatField()
    change_pct = serializers.FloatField(allow_null=True)
    exceeded = serializers.BooleanField()


class DriftCheckOutSerializer(serializers.Serializer):
    model = serializers.CharField()
    threshold_pct = serializers.FloatField()
    enabled = serializers.BooleanField()
    changes = DriftChangeSerializer(many=True)
    alerts = DriftAlertSerializer(many=True)
