"""Guarded rollouts over the API (issue 18): a machine or a person drafts a plan; reviewers
start (approving the plan, now or at a time), pause, resume, abort or cancel it, each with a
reason. Tenant-scoped like every other resource."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from governance.api.permissions import IsReviewer
from governance.api.serializers_base import ReasonSerializer, StrictSerializer
from governance.api.tenancy import TenantScopedMixin, request_actor
from governance.models import ConfigVersion, Rollout
from governance.services import rollouts as services


class StageSerializer(StrictSerializer):
    percent = serializers.IntegerField(min_value=1, max_value=100)
    min_duration_seconds = serializers.IntegerField(min_value=0, required=False, default=0)
    min_decisions = serializers.IntegerField(min_value=0, required=False, default=0)


class GuardSerializer(StrictSerializer):
    metric = serializers.ChoiceField(choices=list(services.GUARD_METRICS))
    max_relative_regression = serializers.FloatField(min_value=0.0, max_value=0.99)
    domain = serializers.CharField(max_length=64, required=False, help_text="KPI guards.")
    kpi = serializers.CharField(max_length=64, required=False, help_text="KPI guards.")


class RolloutCreateSerializer(StrictSerializer):
    version_id = serializers.IntegerField()
    stages = StageSerializer(many=True)
    guards = GuardSerializer(many=True, required=False, default=list)
    significance_level = serializers.FloatField(
        min_value=0.0001, max_value=0.5, required=False, default=0.05
    )
    inconclusive_limit = serializers.IntegerField(min_value=0, max_value=100, default=3)
    acknowledge_breaking = serializers.BooleanField(default=False)


class RolloutStartSerializer(ReasonSerializer):
    start_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Schedule the start; empty starts now."
    )


class RolloutSerializer(serializers.ModelSerializer):
    family = serializers.CharField(source="family.name")
    candidate = serializers.CharField(source="candidate.version")
    baseline = serializers.CharField(source="baseline.version", default=None, allow_null=True)
    approved_by = serializers.CharField(
        source="approved_by.username", default=None, allow_null=True
    )

    class Meta:
        model = Rollout
        fields = [
            "id",
            "family",
            "candidate",
            "baseline",
            "state",
            "stages",
            "guards",
            "significance_level",
            "inconclusive_limit",
            "stage_index",
            "percent",
            "stage_started_at",
            "inconclusive_count",
            "analysis",
            "analyzed_at",
            "history",
            "scheduled_at",
            "approved_by",
            "approved_at",
            "started_at",
            "finished_at",
            "created_by_label",
            "created_at",
        ]
        read_only_fields = fields


class RolloutViewSet(
    TenantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Rollouts of the request's tenant, newest first."""

    serializer_class = RolloutSerializer
    queryset = Rollout.objects.select_related(
        "family", "candidate", "baseline", "approved_by"
    ).order_by("-created_at", "-id")
    filterset_fields = ["state"]

    def _respond(self, rollout: Rollout, code=status.HTTP_200_OK) -> Response:
        return Response(RolloutSerializer(self.get_queryset().get(pk=rollout.pk)).data, status=code)

    @extend_schema(request=RolloutCreateSerializer, responses={201: RolloutSerializer})
    def create(self, request):
        data = RolloutCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        version = get_object_or_404(
            ConfigVersion.objects.select_related("family"),
            pk=values.pop("version_id"),
            tenant=self.tenant,
        )
        rollout = services.rollout_create(
            version=version,
            actor=request_actor(request),
            stages=[dict(stage) for stage in values.pop("stages")],
            guards=[dict(guard) for guard in values.pop("guards")],
            **values,
        )
        return self._respond(rollout, status.HTTP_201_CREATED)

    @extend_schema(request=RolloutStartSerializer, responses=RolloutSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsReviewer])
    def start(self, request, pk=None):
        data = RolloutStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rollout = services.rollout_start(
            rollout=self.get_object(),
            user=request.user,
            reason=data.validated_data["reason"],
            start_at=data.validated_data.get("start_at"),
        )
        return self._respond(rollout)

    def _human(self, request, act) -> Response:
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rollout = act(
            rollout=self.get_object(), user=request.user, reason=data.validated_data["reason"]
        )
        return self._respond(rollout)

    @extend_schema(request=ReasonSerializer, responses=RolloutSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsReviewer])
    def pause(self, request, pk=None):
        return self._human(request, services.rollout_pause)

    @extend_schema(request=ReasonSerializer, responses=RolloutSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsReviewer])
    def resume(self, request, pk=None):
        return self._human(request, services.rollout_resume)

    @extend_schema(request=ReasonSerializer, responses=RolloutSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsReviewer])
    def abort(self, request, pk=None):
        return self._human(request, services.rollout_abort)

    @extend_schema(request=ReasonSerializer, responses=RolloutSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsReviewer])
    def cancel(self, request, pk=None):
        return self._human(request, services.rollout_cancel)
