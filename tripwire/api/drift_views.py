"""Drift API: baselines, checks and alerts of calibrator models."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api.permissions import IsMachineOrReviewer, IsReviewer
from governance.api.serializers_base import ReasonSerializer
from governance.api.settings_serializers import SettingsChangeSerializer
from governance.api.settings_views import settings_outcome_response
from governance.api.tenancy import TenantScopedMixin, request_actor, request_tenant
from tripwire.api.drift_serializers import (
    DriftAlertSerializer,
    DriftBaselineInSerializer,
    DriftBaselineSerializer,
    DriftCheckInSerializer,
    DriftCheckOutSerializer,
)
from tripwire.models import DriftAlert, DriftBaseline
from tripwire.services import drift as services


class BaselineViewSet(TenantScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = DriftBaselineSerializer
    queryset = DriftBaseline.objects.order_by("model_name")

    def get_permissions(self):
        if self.action == "create":
            return [IsMachineOrReviewer()]
        return super().get_permissions()

    @extend_schema(
        request=DriftBaselineInSerializer,
        responses={201: DriftBaselineSerializer, 202: SettingsChangeSerializer},
        description="Set (or replace) a model's baseline metrics (the seed's set_baseline). A "
        "first baseline applies (201); replacing one, or a higher or new threshold, loosens "
        "the detector and is a change request a second reviewer approves (202).",
    )
    def create(self, request):
        data = DriftBaselineInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        outcome = services.drift_set_baseline(
            tenant=request_tenant(request),
            model_name=values.pop("model"),
            actor=request_actor(request),
            **values,
        )
        response = settings_outcome_response(outcome, DriftBaselineSerializer)
        if response.status_code == status.HTTP_200_OK:
            response.status_code = status.HTTP_201_CREATED
        return response


class CheckView(APIView):
    @extend_schema(
        request=DriftCheckInSerializer,
        responses=DriftCheckOutSerializer,
        description="The seed's check_drift: a DriftAlert (and a HIGH drift_alert checkpoint) "
        "for each metric whose relative change |current - baseline| / |baseline| is strictly "
        "greater than drift_threshold_pct (10% by default: 0.82 -> 0.70 alerts, 0.82 -> 0.75, "
        "an 8.5% change, does not). `alerts` lists the alerts raised by this check.",
    )
    def post(self, request):
        data = DriftCheckInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.drift_check(
            tenant=request_tenant(request),
            model_name=data.validated_data["model"],
            current=data.validated_data["current"],
            actor=request_actor(request),
        )
        return Response(
            {
                "model": result.model_name,
                "threshold_pct": result.threshold_pct,
                "enabled": result.enabled,
                "changes": [change.as_dict() for change in result.changes],
                "alerts": DriftAlertSerializer(result.alerts, many=True).data,
            }
        )


class AlertViewSet(TenantScopedMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = DriftAlertSerializer
    queryset = DriftAlert.objects.order_by("-created_at", "-id")
    filterset_fields = ["state", "model_name", "metric"]

    @extend_schema(request=ReasonSerializer, responses=DriftAlertSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsReviewer])
    def acknowledge(self, request, pk=None):
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        alert = services.drift_alert_acknowledge(
            alert=self.get_object(), user=request.user, reason=data.validated_data["reason"]
        )
        return Response(DriftAlertSerializer(alert).data)
