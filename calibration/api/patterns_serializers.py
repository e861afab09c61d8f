from __future__ import annotations

from rest_framework import serializers

from calibration.api.pipeline_serializers import FiniteFloatField
from calibration.models import PatternBand, PatternCalibration
from governance.api.serializers_base import StrictSerializer

MAX_OUTCOMES = 1000


class PatternOutcomeSerializer(StrictSerializer):
    pattern = serializers.CharField(max_length=200, trim_whitespace=False)
    confidence = FiniteFloatField(min_value=0.0, max_value=1.0)
    was_correct = serializers.BooleanField()


class PatternCalibrationSerializer(serializers.ModelSerializer):
    accuracy = serializers.FloatField(allow_null=True, read_only=True)
    is_calibrated = serializers.BooleanField(read_only=True)
    strong_threshold = serializers.FloatField(allow_null=True, read_only=True)
    weak_threshold = serializers.FloatField(allow_null=True, read_only=True)

    class Meta:
        model = PatternCalibration
        fields = [
            "pattern",
            "total_matches",
            "correct_matches",
            "false_positives",
            "accuracy",
            "is_calibrated",
            "strong_threshold",
            "weak_threshold",
            "calibrated_samples",
            "last_outcome_at",
            "recalibrated_at",
        ]
        read_only_fields = fields


class OutcomesRecordedSerializer(serializers.Serializer):
    recorded = serializers.IntegerField()
    patterns = PatternCalibrationSerializer(many=True)


class PatternBandQuerySerializer(StrictSerializer):
    pattern = serializers.CharField(max_length=200, trim_whitespace=False)
    confidence = FiniteFloatField(min_value=0.0, max_value=1.0)


class PatternBandSerializer(serializers.Serializer):
    pattern = serializers.CharField()
    confidence = serializers.FloatField()
    band = serializers.ChoiceField(choices=PatternBand.choices)
    is_calibrated = serializers.BooleanField()
    strong_threshold = serializers.FloatField(allow_null=True)
    weak_threshold = serializers.FloatField(allow_null=True)


class PatternReportRowSerializer(serializers.Serializer):
    pattern = serializers.CharField()
    total_matches = serializers.IntegerField()
    correct_matches = serializers.IntegerField()
    false_positives = serializers.IntegerField()
    accuracy = serializers.FloatField(allow_null=True)
    is_calibrated = serializers.BooleanField()
    strong_threshold = serializers.FloatField(allow_null=True)
    weak_threshold = serializers.FloatField(allow_null=True)
    recalibrated_at = serializers.DateTimeField(allow_null=True)


class ThresholdPairSerializer(serializers.Serializer):
    strong = serializers.FloatField()
    weak = serializers.FloatField()


class ConfidenceReportSerializer(serializers.Serializer):
    total_patterns = serializers.IntegerField()
    calibrated_patterns = serializers.IntegerField()
    total_predictions = serializers.IntegerField()
    global_accuracy = serializers.FloatField(allow_null=True)
    defaults = ThresholdPairSerializer()
    patterns = PatternReportRowSerializer(many=True)
