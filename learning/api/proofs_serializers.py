"""Serializers of the learning proofs API. Input serializers are strict (unknown fields are
400); output serializers are read-only."""

from __future__ import annotations

import datetime as dt

from rest_framework import serializers

from governance.api.serializers_base import StrictSerializer
from learning.models.proofs import (
    DEFAULT_AUTO_DEMOTE_COUNT,
    DEFAULT_AUTO_DEMOTE_SCORE,
    DEFAULT_DECAY_RATE,
    Incident,
    LearnedPolicy,
    Pattern,
    PreventionOutcome,
    PreventionRecord,
    RegretEvent,
    RegretType,
)
from learning.selectors_proofs import current_regret_score

MAX_ID = 2**63 - 1
MAX_COUNT = 2**31 - 1
KEY_FIELD = {"max_length": 128, "trim_whitespace": True}


class PatternSerializer(serializers.ModelSerializer):
    incidents = serializers.IntegerField(source="incident_count", read_only=True, default=0)

    class Meta:
        model = Pattern
        fields = ["id", "key", "name", "created_at", "incidents"]
        read_only_fields = fields


class IncidentSerializer(serializers.ModelSerializer):
    pattern = serializers.CharField(source="pattern.key", read_only=True)

    class Meta:
        model = Incident
        fields = [
            "id",
            "pattern",
            "signature",
            "title",
            "severity",
            "occurred_at",
            "created_at",
            "event_id",
        ]
        read_only_fields = fields


class IncidentCreateSerializer(StrictSerializer):
    pattern = serializers.RegexField(r"^[\w.:-]+$", **KEY_FIELD)
    pattern_name = serializers.CharField(
        max_length=200, required=False, default="", allow_blank=True
    )
    signature = serializers.CharField(**KEY_FIELD)
    severity = serializers.IntegerField(min_value=1, max_value=10)
    title = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    occurred_at = serializers.DateTimeField(required=False)
    event_id = serializers.CharField(max_length=64, required=False)


class PolicySerializer(serializers.ModelSerializer):
    pattern = serializers.CharField(source="pattern.key", read_only=True)
    current_regret_score = serializers.SerializerMethodField()
    demoted_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    reinstated_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = LearnedPolicy
        fields = [
            "id",
            "name",
            "state",
            "pattern",
            "source_incident",
            "born_at",
            "created_by_label",
            "activated_at",
            "auto_demote_score",
            "auto_demote_count",
            "decay_rate",
            "regret_score",
            "current_regret_score",
            "regret_count",
            "regret_total",
            "last_decayed_at",
            "auto_demotions",
            "prevention_count",
            "recurrence_count",
            "demoted_at",
            "demoted_reason",
            "demoted_automatically",
            "demoted_by",
            "reinstated_at",
            "reinstated_by",
            "retired_at",
        ]
        read_only_fields = fields

    def get_current_regret_score(self, obj) -> float:
        return current_regret_score(policy=obj)


class PolicyCreateSerializer(StrictSerializer):
    incident = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    name = serializers.CharField(max_length=200)
    auto_demote_score = serializers.FloatField(
        min_value=0.1, max_value=1_000_000, required=False, default=DEFAULT_AUTO_DEMOTE_SCORE
    )
    auto_demote_count = serializers.IntegerField(
        min_value=1, max_value=10_000, required=False, default=DEFAULT_AUTO_DEMOTE_COUNT
    )
    decay_rate = serializers.FloatField(
        min_value=0.0, max_value=1.0, required=False, default=DEFAULT_DECAY_RATE
    )


class OptionalReasonSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)


class PreventionSerializer(serializers.ModelSerializer):
    pattern = serializers.CharField(source="pattern.key", read_only=True)
    time_since_policy = serializers.DurationField(read_only=True)

    class Meta:
        model = PreventionRecord
        fields = [
            "id",
            "policy",
            "pattern",
            "original_incident",
            "blocked_incident",
            "blocked_signature",
            "outcome",
            "signature_match_confidence",
            "match_band",
            "time_since_policy",
            "calls_evaluated",
            "created_at",
            "recorded_by",
            "event_id",
        ]
        read_only_fields = fields


class PreventionCreateSerializer(StrictSerializer):
    policy = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    outcome = serializers.ChoiceField(choices=PreventionOutcome.choices)
    signature_match_confidence = serializers.FloatField(min_value=0.0, max_value=1.0)
    blocked_incident = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, allow_null=True
    )
    blocked_signature = serializers.CharField(
        max_length=128, required=False, default="", allow_blank=True
    )
    calls_evaluated = serializers.IntegerField(
        min_value=0, max_value=MAX_COUNT, required=False, default=0
    )
    event_id = serializers.CharField(max_length=64, required=False)


class RegretEventSerializer(serializers.ModelSerializer):
    manual_override_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    policy_state = serializers.CharField(source="policy.state", read_only=True)
    policy_regret_score = serializers.FloatField(source="policy.regret_score", read_only=True)

    class Meta:
        model = RegretEvent
        fields = [
            "id",
            "policy",
            "regret_type",
            "description",
            "severity",
            "affected_calls",
            "affected_users",
            "impact_duration",
            "created_at",
            "was_auto_rolled_back",
            "manual_override_by",
            "recorded_by",
            "score_after",
            "event_id",
            "policy_state",
            "policy_regret_score",
        ]
        read_only_fields = fields


class RegretEventCreateSerializer(StrictSerializer):
    policy = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    regret_type = serializers.ChoiceField(choices=RegretType.choices)
    severity = serializers.IntegerField(min_value=1, max_value=10)
    description = serializers.CharField(
        max_length=500, required=False, default="", allow_blank=True
    )
    affected_calls = serializers.IntegerField(
        min_value=0, max_value=MAX_COUNT, required=False, default=0
    )
    affected_users = serializers.IntegerField(
        min_value=0, max_value=MAX_COUNT, required=False, default=0
    )
    impact_duration = serializers.DurationField(
        required=False,
        allow_null=True,
        min_value=dt.timedelta(0),
        max_value=dt.timedelta(days=3650),
    )
    event_id = serializers.CharField(max_length=64, required=False)


class PreventionStatsSerializer(serializers.Serializer):
    prevention_rate = serializers.FloatField()
    has_proven_prevention = serializers.BooleanField()
    total_preventions = serializers.IntegerField()
    total_failures = serializers.IntegerField()
    policies_with_prevention = serializers.IntegerField()
    top_preventing_patterns = serializers.ListField(child=serializers.DictField())


class RegretStatsSerializer(serializers.Serializer):
    has_proven_rollback = serializers.BooleanField()
    system_regret_rate = serializers.FloatField()
    total_regret_events = serializers.IntegerField()
    total_auto_demotions = serializers.IntegerField()


class GateSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    passed = serializers.BooleanField()
    evidence = serializers.DictField()


class GatesSerializer(serializers.Serializer):
    gate1_prevention = GateSerializer()
    gate2_rollback = GateSerializer()
    gate3_console = GateSerializer()


class GraduationSerializer(serializers.Serializer):
    tenant_id = serializers.IntegerField()
    status = serializers.CharField()
    is_graduated = serializers.BooleanField()
    gates_passed = serializers.IntegerField()
    gates = GatesSerializer()
    next_action = serializers.CharField()


class TimelineEntrySerializer(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=["incident_created", "policy_born", "prevention", "regret", "rollback"]
    )
    timestamp = serializers.CharField()
    headline = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    details = serializers.DictField()
    is_milestone = serializers.BooleanField()


class TimelineSummarySerializer(serializers.Serializer):
    event_count = serializers.IntegerField()
    kinds = serializers.ListField(child=serializers.CharField())
    has_prevention = serializers.BooleanField()
    has_rollback = serializers.BooleanField()
    is_learning_proof = serializers.BooleanField()


class TimelineSerializer(serializers.Serializer):
    incident_id = serializers.IntegerField()
    tenant_id = serializers.IntegerField()
    timeline = TimelineEntrySerializer(many=True)
    summary = TimelineSummarySerializer()
    narrative = serializers.CharField()


class ConsoleProofSerializer(serializers.Serializer):
    incident = serializers.IntegerField(source="incident_id")
    recorded_by = serializers.CharField(source="recorded_by.username", default=None)
    recorded_at = serializers.DateTimeField()


class RollbackTimelineSerializer(serializers.Serializer):
    type = serializers.CharField()
    timestamp = serializers.CharField()
    headline = serializers.CharField()
    details = serializers.DictField()
    is_milestone = serializers.BooleanField()
