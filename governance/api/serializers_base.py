"""Serializer helpers shared by every app's API."""

from rest_framework import serializers


class StrictFieldsMixin:
    """Rejects unknown fields instead of ignoring them: no free text sneaks in."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            allowed = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - allowed)
            if unknown:
                raise serializers.ValidationError({name: ["unknown field"] for name in unknown})
        return super().to_internal_value(data)


class StrictSerializer(StrictFieldsMixin, serializers.Serializer):
    pass


class StrictModelSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    pass


class ReasonSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=2000, trim_whitespace=True)
