from rest_framework import serializers

from governance.api.serializers_base import StrictSerializer
from tripwire.models import (
    MetricKind,
    RegressionAction,
    RegressionPolicy,
    RegressionState,
    SignificanceTest,
)


class KPIEventInSerializer(StrictSerializer):
    """One KPI event (documentation of the ingestion format; the batch path validates with
    ``governance.ingest`` in one pass)."""

    domain = serializers.CharField(max_length=64)
    metric = serializers.CharField(max_length=64)
    success = serializers.BooleanField(required=False, allow_null=True)
    value = serializers.FloatField(required=False, allow_null=True)
    event_id = serializers.CharField(max_length=64, required=False, allow_null=True)
    actor = serializers.CharField(max_length=64, required=False, allow_null=True)
    config_version_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="The config version that produced this outcome (as the score response names "
        "it): a guarded rollout compares its cohorts by it.",
    )
    created_at = serializers.DateTimeField(required=False, allow_null=True)


class KPIBatchInSerializer(StrictSerializer):
    events = KPIEventInSerializer(many=True)


class IngestResultSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    stored = serializers.IntegerField()
    duplicates = serializers.IntegerField()


class TierSerializer(StrictSerializer):
    min_drop = serializers.FloatField(min_value=0.0, max_value=1.0)
    action = serializers.ChoiceField(choices=RegressionAction.choices)


class RegressionPolicySerializer(serializers.ModelSerializer):
    tiers = TierSerializer(many=True)
    # Empty when the action is not ROLLBACK: a slug pattern in the schema would forbid "".
    rollback_family = serializers.CharField(read_only=True)

    class Meta:
        model = RegressionPolicy
        fields = [
            "id",
            "domain",
            "metric",
            "kind",
            "enabled",
            "window_events",
            "baseline_events",
            "window_days",
            "max_drop_fraction",
            "action",
            "rollback_family",
            "significance_level",
            "significance_test",
            "tiers",
            "consecutive_breaches",
            "changed_by",
            "changed_at",
        ]
        read_only_fields = fields


class RegressionPolicyUpsertSerializer(StrictSerializer):
    domain = serializers.CharField(max_length=64)
    metric = serializers.CharField(max_length=64)
    kind = serializers.ChoiceField(choices=MetricKind.choices, required=False)
    enabled = serializers.BooleanField(required=False)
    window_events = serializers.IntegerField(min_value=1, max_value=100_000, required=False)
    baseline_events = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False)
    window_days = serializers.IntegerField(
        min_value=1, max_value=3650, required=False, allow_null=True
    )
    max_drop_fraction = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)
    action = serializers.ChoiceField(choices=RegressionAction.choices, required=False)
    rollback_family = serializers.SlugField(max_length=64, required=False, allow_blank=True)
    significance_level = serializers.FloatField(
        min_value=0.0, max_value=1.0, required=False, allow_null=True
    )
    significance_test = serializers.ChoiceField(choices=SignificanceTest.choices, required=False)
    tiers = TierSerializer(many=True, required=False)
    consecutive_breaches = serializers.IntegerField(min_value=1, max_value=100, required=False)
    reason = serializers.CharField(
        max_length=2000,
        required=False,
        default="",
        help_text="Why; required when the change loosens the tripwire (it becomes a request).",
    )
    changed_by = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        write_only=True,
        help_text="Accepted for seed 003's clients and ignored: the ledger and the policy name "
        "the authenticated identity, never a name the client supplies.",
    )

    def validate(self, attrs):
        attrs.pop("changed_by", None)
        return attrs


class RegressionStateSerializer(serializers.ModelSerializer):
    domain = serializers.CharField(source="policy.domain")
    metric = serializers.CharField(source="policy.metric")
    enabled = serializers.BooleanField(source="policy.enabled")
    acknowledged_by = serializers.CharField(
        source="acknowledged_by.username", default=None, allow_null=True
    )

    class Meta:
        model = RegressionState
        fields = [
            "domain",
            "metric",
            "enabled",
            "status",
            "triggered",
            "baseline",
            "current",
            "drop",
            "p_value",
            "window_count",
            "baseline_count",
            "breach_streak",
            "action_taken",
            "evaluated_at",
            "triggered_at",
            "acknowledged_by",
            "acknowledged_at",
        ]
        read_only_fields = fields


class EvaluateSerializer(StrictSerializer):
    domain = serializers.CharField(max_length=64)
    metric = serializers.CharField(max_length=64)
    actor = serializers.CharField(max_length=200, required=False, allow_blank=True)


class AcknowledgeSerializer(StrictSerializer):
    domain = serializers.CharField(max_length=64)
    metric = serializers.CharField(max_length=64)
    reason = serializers.CharField(max_length=2000)
    reenable_risk_policy = serializers.BooleanField(default=False)
