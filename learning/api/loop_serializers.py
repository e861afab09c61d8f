"""Serializers of the active learning loop API."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from governance.api.serializers_base import StrictSerializer
from learning.models import (
    BacktestCase,
    BacktestResult,
    BacktestRun,
    FailureAnalysis,
    LoopProposal,
    SandboxRun,
)


class BacktestCaseSerializer(serializers.ModelSerializer):
    class Meta:
        model = BacktestCase
        fields = [
            "id",
            "case_id",
            "description",
            "features",
            "expected_decision",
            "expected_flags",
            "expected_escalate",
            "protected",
            "active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class BacktestCaseWriteSerializer(StrictSerializer):
    case_id = serializers.RegexField(r"^[-a-zA-Z0-9_]{1,120}$", max_length=120)
    description = serializers.CharField(max_length=200, allow_blank=True, default="")
    features = serializers.DictField(
        child=serializers.FloatField(), allow_empty=False, help_text="Feature name -> number."
    )
    expected_decision = serializers.CharField(max_length=40)
    expected_flags = serializers.ListField(
        child=serializers.CharField(max_length=64), default=list, max_length=64
    )
    expected_escalate = serializers.BooleanField(allow_null=True, default=None)
    protected = serializers.BooleanField(default=False)


class BacktestCaseUpdateSerializer(BacktestCaseWriteSerializer):
    case_id = None


class BacktestRunSerializer(serializers.ModelSerializer):
    config_version = serializers.CharField(source="config_version.version", read_only=True)
    config_version_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = BacktestRun
        fields = [
            "id",
            "run_id",
            "config_version",
            "config_version_id",
            "trigger",
            "case_count",
            "hit_count",
            "miss_count",
            "abstain_count",
            "pass_rate",
            "avg_score",
            "results_sha256",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class BacktestRunCreateSerializer(StrictSerializer):
    config_version = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2**63 - 1,
        help_text="Config version id (default: the ACTIVE one).",
    )


class BacktestResultSerializer(serializers.ModelSerializer):
    case_id = serializers.CharField(source="case.case_id", read_only=True)

    class Meta:
        model = BacktestResult
        fields = [
            "case_id",
            "status",
            "decision",
            "score",
            "confidence",
            "confidence_value",
            "flags",
            "escalate",
        ]
        read_only_fields = fields


class BacktestResultPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = BacktestResultSerializer(many=True)


class FailureAnalysisSerializer(serializers.ModelSerializer):
    run_id = serializers.CharField(source="run.run_id", read_only=True)
    case_id = serializers.CharField(source="case.case_id", read_only=True)
    proposal_id = serializers.SerializerMethodField()

    class Meta:
        model = FailureAnalysis
        fields = [
            "id",
            "failure_id",
            "run_id",
            "case_id",
            "state",
            "hypothesis",
            "artifact",
            "artifact_sha256",
            "markdown",
            "proposal_id",
            "created_at",
            "resolved_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_proposal_id(self, obj):
        proposal = getattr(obj, "proposal", None)
        return proposal.proposal_id if proposal else None


class ProposalGenerateSerializer(StrictSerializer):
    declared_threshold = serializers.FloatField(min_value=0.0001, max_value=1.0, default=0.10)
    runs = serializers.IntegerField(min_value=1, max_value=20, default=3)


class SandboxRunSerializer(serializers.ModelSerializer):
    proposal_id = serializers.CharField(source="proposal.proposal_id", read_only=True)

    class Meta:
        model = SandboxRun
        fields = [
            "id",
            "sandbox_run_id",
            "proposal_id",
            "runs",
            "promotion_eligible",
            "report",
            "report_sha256",
            "measurements",
            "executed_at",
        ]
        read_only_fields = fields


class LoopProposalSerializer(serializers.ModelSerializer):
    source_failure_id = serializers.CharField(source="failure.failure_id", read_only=True)
    base_version = serializers.CharField(source="base_version.version", read_only=True)
    promoted_version = serializers.CharField(
        source="promoted_version.version", read_only=True, default=None
    )

    class Meta:
        model = LoopProposal
        fields = [
            "id",
            "proposal_id",
            "source_failure_id",
            "kind",
            "state",
            "base_version",
            "change",
            "document",
            "document_sha256",
            "declared_threshold",
            "promoted_version",
            "created_at",
            "sandboxed_at",
            "promoted_at",
        ]
        read_only_fields = fields


class SandboxRequestSerializer(StrictSerializer):
    runs = serializers.IntegerField(min_value=1, max_value=20, default=3)


class PromoteRequestSerializer(StrictSerializer):
    strict = serializers.BooleanField(default=True)


class PromotedVersionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    family = serializers.CharField()
    version = serializers.CharField()
    state = serializers.CharField()
    source = serializers.CharField()
    base_version = serializers.CharField()
