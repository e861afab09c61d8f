"""Read-only views of the offline calibration pipeline's outputs: metric snapshots, the
calibration reports and their findings, and the config proposals made from them."""

from __future__ import annotations

from rest_framework import serializers

from calibration.models import (
    CalibrationFinding,
    CalibrationReport,
    ConfigProposal,
    MetricsSnapshot,
)

SNAPSHOT_FIELDS = [
    "id",
    "window_start",
    "window_end",
    "window_days",
    "privacy_k",
    "decision_count",
    "config_version",
    "export_name",
    "created_at",
]


class MetricsSnapshotListSerializer(serializers.ModelSerializer):
    export_name = serializers.CharField(read_only=True, help_text="The exported file's name.")

    class Meta:
        model = MetricsSnapshot
        fields = SNAPSHOT_FIELDS
        read_only_fields = fields


class MetricsSnapshotSerializer(MetricsSnapshotListSerializer):
    """A snapshot with its aggregate metrics (score distribution, confidence matrix, flag,
    escalation and tier frequencies); buckets of fewer than ``privacy_k`` decisions are
    suppressed."""

    class Meta(MetricsSnapshotListSerializer.Meta):
        fields = [*SNAPSHOT_FIELDS, "metrics"]
        read_only_fields = fields


class CalibrationFindingSerializer(serializers.ModelSerializer):
    code = serializers.CharField(read_only=True, help_text="F1, F2, ... in the report's order.")

    class Meta:
        model = CalibrationFinding
        fields = ["code", "kind", "severity", "title", "numbers"]
        read_only_fields = fields


class CalibrationReportSerializer(serializers.ModelSerializer):
    snapshot = serializers.IntegerField(source="snapshot_id", read_only=True)
    findings = CalibrationFindingSerializer(many=True, read_only=True)
    proposal = serializers.SerializerMethodField(
        help_text="The config proposal made from this report, if any."
    )
    export_name = serializers.CharField(read_only=True, help_text="The exported file's name.")

    class Meta:
        model = CalibrationReport
        fields = [
            "id",
            "snapshot",
            "config_version",
            "parameters",
            "summary",
            "findings",
            "proposal",
            "export_name",
            "created_at",
        ]
        read_only_fields = fields

    def get_proposal(self, obj) -> int | None:
        proposal = getattr(obj, "proposal", None)
        return proposal.pk if proposal is not None else None


class ConfigProposalSerializer(serializers.ModelSerializer):
    report = serializers.IntegerField(source="report_id", read_only=True)
    base_version = serializers.IntegerField(
        source="base_version_id", read_only=True, allow_null=True
    )
    base_version_number = serializers.CharField(
        source="base_version.version", read_only=True, allow_null=True, default=None
    )
    proposed_version = serializers.IntegerField(
        source="proposed_version_id",
        read_only=True,
        allow_null=True,
        help_text="The config version registered in PENDING_APPROVAL (decided by a reviewer).",
    )
    proposed_version_number = serializers.CharField(
        source="proposed_version.version", read_only=True, allow_null=True, default=None
    )
    proposed_version_state = serializers.CharField(
        source="proposed_version.state", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = ConfigProposal
        fields = [
            "id",
            "report",
            "status",
            "message",
            "base_version",
            "base_version_number",
            "proposed_version",
            "proposed_version_number",
            "proposed_version_state",
            "change_summary",
            "created_at",
        ]
        read_only_fields = fields
