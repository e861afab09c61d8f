from __future__ import annotations

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from calibration import selectors
from calibration.api.pipeline_serializers import (
    MAX_BATCH,
    DecisionOutSerializer,
    DecisionSerializer,
    DecisionsRecordedSerializer,
    OutcomeSerializer,
    ScoreRequestSerializer,
    ScoreResponseSerializer,
    parse_score_client_id,
    parse_score_request,
)
from calibration.services import pipeline as services
from governance.api.tenancy import request_tenant

_DECISION_INPUT = PolymorphicProxySerializer(
    component_name="DecisionInput",
    serializers=[DecisionSerializer, DecisionSerializer(many=True)],
    resource_type_field_name=None,
    many=False,
)


class ScoreView(APIView):
    """Score one case with the tenant's ACTIVE scoring version; changes nothing."""

    @extend_schema(request=ScoreRequestSerializer, responses={200: ScoreResponseSerializer})
    def post(self, request):
        features = parse_score_request(request.data)
        result = selectors.runtime_score(
            tenant_id=request_tenant(request).pk,
            features=features,
            client_id=parse_score_client_id(request.data),
        )
        return Response(result)


class DecisionsView(APIView):
    """Record what a runtime decided: one decision (an object) or a batch (a list, at most
    1000), all or nothing."""

    @extend_schema(request=_DECISION_INPUT, responses={201: DecisionsRecordedSerializer})
    def post(self, request):
        many = isinstance(request.data, list)
        kwargs = {"many": True, "allow_empty": False, "max_length": MAX_BATCH} if many else {}
        data = DecisionSerializer(data=request.data, **kwargs)
        data.is_valid(raise_exception=True)
        rows = data.validated_data if many else [data.validated_data]
        created = services.decisions_record(tenant=request_tenant(request), rows=rows)
        return Response(
            {"recorded": len(created), "client_ids": [d.client_id for d in created]},
            status=status.HTTP_201_CREATED,
        )


class DecisionOutcomeView(APIView):
    """Report the known outcome of a decision by the runtime's client id."""

    @extend_schema(request=OutcomeSerializer, responses={200: DecisionOutSerializer})
    def patch(self, request, client_id: str):
        data = OutcomeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        decision = services.decision_outcome_record(
            tenant=request_tenant(request),
            client_id=client_id,
            was_correct=data.validated_data["was_correct"],
        )
        return Response(DecisionOutSerializer(decision).data)
