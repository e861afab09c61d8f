"""Serializers of the calibrator registry API."""

from __future__ import annotations

from rest_framework import serializers

from calibration.models import (
    CalibrationMethod,
    CalibratorEvaluation,
    CalibratorVersion,
    ModelStage,
    TrainingJob,
)
from governance.api.serializers_base import StrictSerializer


class CalibrateInSerializer(StrictSerializer):
    model = serializers.SlugField(max_length=100)
    confidences = serializers.ListField(
        child=serializers.FloatField(min_value=0.0, max_value=1.0),
        min_length=1,
        max_length=100_000,
    )


class CalibrateOutSerializer(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.IntegerField()
    method = serializers.CharField()
    probabilities = serializers.ListField(child=serializers.FloatField())


class TrainingSampleFilterSerializer(StrictSerializer):
    source_engine = serializers.CharField(max_length=100, required=False)
    subject = serializers.CharField(max_length=64, required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


class TrainingJobInSerializer(StrictSerializer):
    model_name = serializers.SlugField(max_length=100)
    model_type = serializers.CharField(max_length=32, default="signal")
    method = serializers.ChoiceField(choices=CalibrationMethod.choices)
    cv_folds = serializers.IntegerField(min_value=2, max_value=20, default=5)
    min_samples = serializers.IntegerField(
        min_value=2,
        max_value=2**31 - 1,  # the column's range (PositiveIntegerField)
        required=False,
        help_text="default: the tenant's min_samples_for_training",
    )
    sample_filter = TrainingSampleFilterSerializer(required=False)


class TrainingJobSerializer(serializers.ModelSerializer):
    model_name = serializers.CharField(source="model.name", read_only=True)
    model_version = serializers.SerializerMethodField()

    class Meta:
        model = TrainingJob
        fields = [
            "id",
            "model_name",
            "method",
            "cv_folds",
            "min_samples",
            "sample_source",
            "sample_filter",
            "state",
            "created_at",
            "created_by_label",
            "started_at",
            "finished_at",
            "attempts",
            "samples",
            "metrics",
            "failure_reason",
            "log",
            "model_version",
        ]

    def get_model_version(self, obj) -> int | None:
        version = getattr(obj, "model_version", None)
        return version.pk if version else None


class CalibratorEvaluationSerializer(serializers.ModelSerializer):
    class Meta:
        model = CalibratorEvaluation
        fields = [
            "id",
            "benchmark_name",
            "metrics",
            "thresholds",
            "baseline",
            "results",
            "passed",
            "created_at",
            "created_by_label",
        ]


class CalibratorVersionSerializer(serializers.ModelSerializer):
    model_name = serializers.CharField(source="model.name", read_only=True)
    evaluations = CalibratorEvaluationSerializer(many=True, read_only=True)

    class Meta:
        model = CalibratorVersion
        fields = [
            "id",
            "model_name",
            "number",
            "method",
            "parameters",
            "metrics",
            "samples",
            "training_job",
            "stage",
            "created_at",
            "staged_at",
            "promoted_at",
            "archived_at",
            "evaluations",
        ]


class CalibratorEvaluateInSerializer(StrictSerializer):
    benchmark_name = serializers.CharField(max_length=100)
    metrics = serializers.DictField(child=serializers.FloatField(), allow_empty=False)
    thresholds = serializers.DictField(child=serializers.FloatField(), allow_empty=False)
    baseline = serializers.DictField(child=serializers.FloatField(), required=False)


class CalibratorPromoteInSerializer(StrictSerializer):
    target_stage = serializers.ChoiceField(
        choices=[ModelStage.STAGING.value, ModelStage.PRODUCTION.value]
    )
    reason = serializers.CharField(max_length=2000, required=False, default="")


class CalibratorArchiveInSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=2000)
