"""Change requests of safety settings (a loosening waiting for a second reviewer)."""

from rest_framework import serializers

from governance.models import SettingsChange


class SettingsChangeSerializer(serializers.ModelSerializer):
    """``before`` and ``after`` hold only the fields the request changes; ``loosened`` names
    those whose change loosens the setting (the reason it waits)."""

    decided_by = serializers.CharField(
        source="decided_by.username", default=None, allow_null=True, read_only=True
    )

    class Meta:
        model = SettingsChange
        fields = [
            "id",
            "setting",
            "target",
            "state",
            "before",
            "after",
            "loosened",
            "requested_by_label",
            "reason",
            "created_at",
            "decided_by",
            "decision_reason",
            "decided_at",
        ]
        read_only_fields = fields
