"""Serializers of the runtime score endpoint and of decisions. Decisions carry codes and
numbers only: no identifier of a person and no free text (unknown fields are refused)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from calibration.models import CODE_PATTERN, Decision
from governance.api.serializers_base import StrictSerializer
from governance.errors import ValidationFailed
from governance.services.versions import SEMVER

MAX_FEATURES = 256
MAX_BATCH = 1000


class FiniteFloatField(serializers.FloatField):
    def to_internal_value(self, data):
        try:
            value = super().to_internal_value(data)
        except OverflowError as exc:  # an integer beyond float range, e.g. 1e400 as digits
            raise serializers.ValidationError("must be a finite number") from exc
        if not math.isfinite(value):
            raise serializers.ValidationError("must be a finite number")
        return value


class ScoreRequestSerializer(StrictSerializer):
    features = serializers.DictField(
        child=FiniteFloatField(), allow_empty=True, help_text="Feature name -> number."
    )
    client_id = serializers.CharField(
        max_length=64,
        required=False,
        help_text="The case's id: during a guarded rollout it decides the case's cohort.",
    )

    def validate_features(self, value):
        if len(value) > MAX_FEATURES:
            raise serializers.ValidationError(f"at most {MAX_FEATURES} features")
        too_long = sorted(name for name in value if len(name) > 64)
        if too_long:
            raise serializers.ValidationError("feature names are at most 64 characters")
        return value


def _finite_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def parse_score_client_id(data: Any) -> str | None:
    """The optional ``client_id`` of a score request (the case's id for a rollout's split)."""
    if not isinstance(data, Mapping) or data.get("client_id") is None:
        return None
    client_id = data["client_id"]
    if not isinstance(client_id, str) or not 1 <= len(client_id) <= 64:
        raise ValidationFailed({"client_id": ["a string of 1 to 64 characters"]})
    return client_id


def parse_score_request(data: Any) -> dict[str, float]:
    """The contract of ``ScoreRequestSerializer`` checked by hand: on the runtime path,
    building a DRF serializer per request costs more than the scoring itself."""
    if not isinstance(data, Mapping):
        raise ValidationFailed({"non_field_errors": ["expected a JSON object"]})
    known = {"features", "client_id"}
    errors: dict[str, Any] = {name: ["unknown field"] for name in sorted(set(data) - known)}
    features = data.get("features")
    if "features" not in data:
        errors["features"] = ["This field is required."]
    elif not isinstance(features, Mapping):
        errors["features"] = ["expected an object of feature name -> number"]
    elif len(features) > MAX_FEATURES:
        errors["features"] = [f"at most {MAX_FEATURES} features"]
    else:
        bad = {}
        for name, value in features.items():
            if len(name) > 64:
                bad[name] = ["feature names are at most 64 characters"]
            elif not _finite_number(value):
                bad[name] = ["must be a finite number"]
        if bad:
            errors["features"] = bad
    if errors:
        raise ValidationFailed(errors)
    return {name: float(value) for name, value in features.items()}


class VersionUsedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.CharField()


class RolloutCohortSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    percent = serializers.IntegerField()
    cohort = serializers.ChoiceField(choices=["candidate", "baseline"])


class ScoreResponseSerializer(serializers.Serializer):
    score = serializers.FloatField()
    band = serializers.CharField()
    confidence = serializers.FloatField()
    flags = serializers.ListField(child=serializers.CharField())
    escalate = serializers.BooleanField()
    decision = serializers.CharField(help_text="The band, or ABSTAIN below min_confidence.")
    version = VersionUsedSerializer(
        help_text="The scoring version that was applied: the ACTIVE one, or a live rollout's "
        "candidate for a case in its cohort."
    )
    rollout = RolloutCohortSerializer(
        required=False, help_text="With a client_id while a rollout is live: the case's cohort."
    )


def _code(**kwargs):
    return serializers.RegexField(CODE_PATTERN, max_length=64, **kwargs)


class DecisionListSerializer(serializers.ListSerializer):
    pass


class DecisionSerializer(StrictSerializer):
    client_id = _code(help_text="The runtime's id of this decision (unique per tenant).")
    score = FiniteFloatField(min_value=0.0, max_value=1.0)
    band = _code()
    confidence = FiniteFloatField(min_value=0.0, max_value=1.0)
    abstained = serializers.BooleanField(default=False)
    escalated = serializers.BooleanField(default=False)
    tier = _code(required=False)
    config_version = serializers.RegexField(SEMVER.pattern, max_length=32, required=False)
    decided_at = serializers.DateTimeField()
    flags = serializers.ListField(child=_code(), max_length=64, default=list)
    was_correct = serializers.BooleanField(required=False, allow_null=True, default=None)

    class Meta:
        list_serializer_class = DecisionListSerializer


class DecisionsRecordedSerializer(serializers.Serializer):
    recorded = serializers.IntegerField()
    client_ids = serializers.ListField(child=serializers.CharField())


class OutcomeSerializer(StrictSerializer):
    was_correct = serializers.BooleanField()


class DecisionOutSerializer(serializers.ModelSerializer):
    flags = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta:
        model = Decision
        fields = [
            "client_id",
            "score",
            "band",
            "confidence",
            "abstained",
            "escalated",
            "tier",
            "config_version",
            "decided_at",
            "flags",
            "was_correct",
            "outcome_at",
        ]
        read_only_fields = fields
