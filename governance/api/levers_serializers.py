from decimal import Decimal

from rest_framework import serializers

from governance.api.serializers_base import StrictSerializer
from governance.models import CharterPolicy, GoLiveState, RiskPolicy, RiskReservation

MONEY = {"max_digits": 18, "decimal_places": 2}


class GoLiveStateSerializer(serializers.ModelSerializer):
    changed_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        model = GoLiveState
        fields = ["enabled", "kill_switch_engaged", "reason", "changed_by", "changed_at"]
        read_only_fields = fields


class RiskPolicySerializer(serializers.ModelSerializer):
    class Meta:
        model = RiskPolicy
        fields = [
            "id",
            "engine",
            "enabled",
            "max_daily_loss",
            "max_daily_exposure",
            "max_daily_actions",
            "disabled_reason",
            "changed_by",
            "changed_at",
        ]
        read_only_fields = fields


class RiskPolicyUpsertSerializer(StrictSerializer):
    engine = serializers.CharField(max_length=64)
    enabled = serializers.BooleanField(required=False)
    max_daily_loss = serializers.DecimalField(
        **MONEY, min_value=Decimal(0), required=False, allow_null=True
    )
    max_daily_exposure = serializers.DecimalField(
        **MONEY, min_value=Decimal(0), required=False, allow_null=True
    )
    max_daily_actions = serializers.IntegerField(
        min_value=0, max_value=2_147_483_647, required=False, allow_null=True
    )
    reason = serializers.CharField(max_length=2000, required=False, default="")


class RiskReserveSerializer(StrictSerializer):
    engine = serializers.CharField(max_length=64)
    exposure = serializers.DecimalField(**MONEY, min_value=Decimal(0))
    actions = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)


class RiskCheckOutSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True)
    reservation_id = serializers.IntegerField(allow_null=True)


class RiskSettleSerializer(StrictSerializer):
    reservation_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    realised_loss = serializers.DecimalField(**MONEY, min_value=Decimal(0), default=Decimal(0))


class RiskReservationSerializer(serializers.ModelSerializer):
    class Meta:
        model = RiskReservation
        fields = [
            "id",
            "engine",
            "day",
            "exposure",
            "actions",
            "outcome",
            "denial_reason",
            "realised_loss",
            "created_at",
            "settled_at",
        ]
        read_only_fields = fields


class RiskEngineDaySerializer(serializers.Serializer):
    engine = serializers.CharField()
    open_exposure = serializers.CharField()
    realised_loss = serializers.CharField()
    actions = serializers.IntegerField()


class RiskLedgerTodaySerializer(serializers.Serializer):
    day = serializers.DateField()
    total = serializers.IntegerField()
    by_outcome = serializers.DictField(child=serializers.IntegerField())
    denial_count = serializers.IntegerField()
    denials_by_reason = serializers.DictField(child=serializers.IntegerField())
    denied_ids = serializers.DictField(
        child=serializers.ListField(child=serializers.IntegerField())
    )
    granted_exposure = serializers.CharField()
    realised_loss = serializers.CharField()
    engines = RiskEngineDaySerializer(many=True)


class CharterPolicySerializer(serializers.ModelSerializer):
    class Meta:
        model = CharterPolicy
        fields = [
            "id",
            "domain",
            "min_confidence_prod",
            "min_sandbox_trials",
            "min_success_rate",
            "changed_by",
            "changed_at",
        ]
        read_only_fields = fields


class CharterPolicyUpsertSerializer(StrictSerializer):
    domain = serializers.CharField(max_length=64)
    min_confidence_prod = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)
    min_sandbox_trials = serializers.IntegerField(
        min_value=0, max_value=2_147_483_647, required=False
    )
    min_success_rate = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)
    reason = serializers.CharField(max_length=2000, required=False, default="")


class SandboxTrialSerializer(StrictSerializer):
    domain = serializers.CharField(max_length=64)
    success = serializers.BooleanField()
    confidence = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)


class SandboxTrialOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    domain = serializers.CharField()
    success = serializers.BooleanField()
    confidence = serializers.FloatField(allow_null=True)
    created_at = serializers.DateTimeField()


class EligibilityQuerySerializer(StrictSerializer):
    domain = serializers.CharField(max_length=64)
    confidence = serializers.FloatField(min_value=0.0, max_value=1.0)


class UnmetSerializer(serializers.Serializer):
    condition = serializers.CharField()
    detail = serializers.CharField()


class EligibilitySerializer(serializers.Serializer):
    domain = serializers.CharField()
    confidence = serializers.FloatField()
    eligible = serializers.BooleanField()
    unmet = UnmetSerializer(many=True)
    trials = serializers.IntegerField()
    successes = serializers.IntegerField()
    success_rate = serializers.FloatField(allow_null=True)


class ScorecardRowSerializer(serializers.Serializer):
    domain = serializers.CharField()
    trials_today = serializers.IntegerField()
    successes_today = serializers.IntegerField()
    success_rate_today = serializers.FloatField(allow_null=True)
    trials_total = serializers.IntegerField()
    success_rate_total = serializers.FloatField(allow_null=True)
    min_confidence_prod = serializers.FloatField(allow_null=True)
    min_sandbox_trials = serializers.IntegerField(allow_null=True)
    min_success_rate = serializers.FloatField(allow_null=True)
    prod_eligible_at_min_confidence = serializers.BooleanField()


class ScorecardSerializer(serializers.Serializer):
    day = serializers.DateField()
    domains = ScorecardRowSerializer(many=True)
