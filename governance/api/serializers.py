from rest_framework import serializers

from governance.api.serializers_base import StrictSerializer
from governance.models import (
    Checkpoint,
    CheckpointPriority,
    CheckpointType,
    ConfigVersion,
    LedgerEntry,
    RollbackReport,
)


class ChangeSerializer(StrictSerializer):
    description = serializers.CharField(max_length=500)
    date = serializers.DateField(required=False)
    impact = serializers.ChoiceField(choices=["breaking", "non-breaking"], default="non-breaking")
    affected_components = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, default=list
    )


class ConfigVersionSerializer(serializers.ModelSerializer):
    family = serializers.CharField(source="family.name", read_only=True)
    base_version = serializers.CharField(
        source="base_version.version", read_only=True, default=None
    )
    created_by = serializers.CharField(source="created_by_label", read_only=True)
    contributors = serializers.ListField(child=serializers.CharField(), read_only=True)
    approvals = serializers.SerializerMethodField()

    class Meta:
        model = ConfigVersion
        fields = [
            "id",
            "family",
            "version",
            "state",
            "source",
            "description",
            "changes",
            "payload",
            "base_version",
            "created_by",
            "contributors",
            "created_at",
            "submitted_at",
            "approved_at",
            "rejected_at",
            "rejection_reason",
            "activated_at",
            "deactivated_at",
            "approvals",
        ]
        read_only_fields = fields

    def get_approvals(self, obj) -> list[dict]:
        return [
            {"reviewer": a.reviewer.get_username(), "reason": a.reason, "at": a.created_at}
            for a in obj.approvals.all()
            if a.voided_at is None
        ]


class ConfigVersionCreateSerializer(StrictSerializer):
    family = serializers.SlugField(max_length=64)
    version = serializers.CharField(max_length=32)
    payload = serializers.JSONField()
    description = serializers.CharField(
        max_length=2000, required=False, default="", allow_blank=True
    )
    changes = ChangeSerializer(many=True, required=False, default=list)
    base_version = serializers.CharField(max_length=32, required=False, allow_null=True)
    submit = serializers.BooleanField(required=False, default=False)

    def validate_payload(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("must be a JSON object")
        return value


class PayloadEditSerializer(StrictSerializer):
    payload = serializers.JSONField()

    def validate_payload(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("must be a JSON object")
        return value


class ActivateSerializer(StrictSerializer):
    # Activation is a human act: it needs a reason like every other (SPEC 4, "Decisions").
    reason = serializers.CharField(max_length=2000, trim_whitespace=True)
    acknowledge_breaking = serializers.BooleanField(required=False, default=False)


class ActiveConfigSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    family = serializers.CharField()
    version = serializers.CharField()
    payload = serializers.JSONField()
    activated_at = serializers.CharField(allow_null=True)
    rollout = serializers.DictField(
        required=False,
        allow_null=True,
        help_text="Without a client_id: the family's live guarded rollout, or null (id, state, "
        "stage, percent and the candidate's id, version and payload; a client follows the "
        "split locally with govloop_client.split, and the ETag changes with the stage, "
        "exposure and state). With a client_id while a rollout is live: the case's cohort.",
    )


class DiffSerializer(serializers.Serializer):
    against = serializers.CharField(allow_null=True)
    changes = serializers.ListField(child=serializers.DictField())


class LedgerEntrySerializer(serializers.ModelSerializer):
    # ``payload`` is a database-generated column, which DRF would render with the model
    # field's ``value_to_string`` (a Python repr): declare it as the JSON object it is, which
    # also tells the OpenAPI schema so.
    payload = serializers.DictField(read_only=True)

    class Meta:
        model = LedgerEntry
        fields = [
            "seq",
            "kind",
            "subject_type",
            "subject_id",
            "actor",
            "payload",
            "created_at",
            "hash",
        ]
        read_only_fields = fields


class CheckpointSerializer(serializers.ModelSerializer):
    priority = serializers.CharField(source="get_priority_display", read_only=True)

    class Meta:
        model = Checkpoint
        fields = [
            "id",
            "checkpoint_type",
            "subject_type",
            "subject_id",
            "description",
            "confidence",
            "priority",
            "blocking",
            "state",
            "created_at",
            "expires_at",
            "resolved_at",
            "resolution_reason",
        ]
        read_only_fields = fields


class RollbackReportSerializer(serializers.ModelSerializer):
    family = serializers.CharField(source="family.name", read_only=True)
    rolled_back_from = serializers.CharField(
        source="rolled_back_from.version", read_only=True, default=None
    )
    rolled_back_to = serializers.CharField(source="rolled_back_to.version", read_only=True)
    rolled_back_from_id = serializers.IntegerField(read_only=True, allow_null=True)
    rolled_back_to_id = serializers.IntegerField(read_only=True)
    diff = serializers.DictField(read_only=True)
    checkpoint_ids = serializers.ListField(child=serializers.IntegerField(), read_only=True)

    class Meta:
        model = RollbackReport
        fields = [
            "id",
            "family",
            "rolled_back_from",
            "rolled_back_from_id",
            "rolled_back_to",
            "rolled_back_to_id",
            "diff",
            "actor",
            "reason",
            "automatic",
            "checkpoint_ids",
            "ledger_seq",
            "created_at",
        ]
        read_only_fields = fields


class StaleBaseSerializer(serializers.Serializer):
    """The 409 body of an activation refused because the version's base is not active."""

    detail = serializers.CharField()
    code = serializers.CharField()
    current_state = serializers.CharField()
    diff = serializers.DictField()


class CheckpointSubjectSerializer(StrictSerializer):
    type = serializers.CharField(
        max_length=100, help_text="model label, e.g. governance.configversion"
    )
    id = serializers.CharField(max_length=64)


class CheckpointCreateSerializer(StrictSerializer):
    """A review request (or a type the tenant opens) from a machine or a person; the types the
    system opens about governed changes are refused by the service."""

    checkpoint_type = serializers.ChoiceField(choices=CheckpointType.choices)
    description = serializers.CharField(max_length=2000)
    subject = CheckpointSubjectSerializer(required=False)
    confidence = serializers.FloatField(
        required=False, allow_null=True, default=None, min_value=0.0, max_value=1.0
    )
    priority = serializers.ChoiceField(
        choices=[p.name for p in CheckpointPriority], required=False, default="NORMAL"
    )
