"""Change requests of safety settings: list, detail, approve and reject (a second reviewer),
and the one way every settings endpoint answers a governed change."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.serializers import Serializer

from governance.api.permissions import IsReviewer
from governance.api.serializers_base import ReasonSerializer
from governance.api.settings_serializers import SettingsChangeSerializer
from governance.api.tenancy import TenantScopedMixin
from governance.kernel.settings import (
    SettingsOutcome,
    settings_change_approve,
    settings_change_reject,
)
from governance.models import SettingsChange


def settings_outcome_response(
    outcome: SettingsOutcome, serializer_class: type[Serializer], **context: Any
) -> Response:
    """200 with the row when the change applied (it tightened, or changed nothing); 202 with
    the change request when it loosens something and waits for a second reviewer."""
    if outcome.change is not None:
        return Response(
            SettingsChangeSerializer(outcome.change).data, status=status.HTTP_202_ACCEPTED
        )
    return Response(serializer_class(outcome.applied, context=context).data)


class SettingsChangeViewSet(TenantScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Change requests that loosen a safety setting. Another tenant's ids are 404."""

    serializer_class = SettingsChangeSerializer
    queryset = SettingsChange.objects.select_related("decided_by").order_by("-created_at", "-id")
    filterset_fields = ["state", "setting", "target"]

    def _decide(self, request, decide):
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        change = decide(
            change=self.get_object(), user=request.user, reason=data.validated_data["reason"]
        )
        return Response(SettingsChangeSerializer(change).data)

    @extend_schema(
        request=ReasonSerializer,
        responses=SettingsChangeSerializer,
        description="Approve and apply (a reviewer other than the requester; 409 stale_setting "
        "when the setting changed since the request was drafted).",
    )
    @action(detail=True, methods=["post"], permission_classes=[IsReviewer])
    def approve(self, request, pk=None):
        return self._decide(request, settings_change_approve)

    @extend_schema(request=ReasonSerializer, responses=SettingsChangeSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsReviewer])
    def reject(self, request, pk=None):
        return self._decide(request, settings_change_reject)
