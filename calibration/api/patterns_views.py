from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from calibration import selectors
from calibration.api.patterns_serializers import (
    MAX_OUTCOMES,
    ConfidenceReportSerializer,
    OutcomesRecordedSerializer,
    PatternBandQuerySerializer,
    PatternBandSerializer,
    PatternCalibrationSerializer,
    PatternOutcomeSerializer,
)
from calibration.models.patterns import DEFAULT_STRONG_THRESHOLD, DEFAULT_WEAK_THRESHOLD
from calibration.services import patterns as services
from governance.api.tenancy import request_tenant

_OUTCOME_INPUT = PolymorphicProxySerializer(
    component_name="PatternOutcomeInput",
    serializers=[PatternOutcomeSerializer, PatternOutcomeSerializer(many=True)],
    resource_type_field_name=None,
    many=False,
)


class PatternOutcomesView(APIView):
    """Record (pattern, confidence, was_correct) outcomes: one object or a list, all or
    nothing. Thresholds are recalibrated by the beat task."""

    @extend_schema(request=_OUTCOME_INPUT, responses={201: OutcomesRecordedSerializer})
    def post(self, request):
        many = isinstance(request.data, list)
        kwargs = {"many": True, "allow_empty": False, "max_length": MAX_OUTCOMES} if many else {}
        data = PatternOutcomeSerializer(data=request.data, **kwargs)
        data.is_valid(raise_exception=True)
        rows = data.validated_data if many else [data.validated_data]
        patterns = services.pattern_outcomes_record(tenant=request_tenant(request), outcomes=rows)
        return Response(
            {
                "recorded": len(rows),
                "patterns": PatternCalibrationSerializer(patterns, many=True).data,
            },
            status=status.HTTP_201_CREATED,
        )


class PatternBandView(APIView):
    """The band (STRONG | WEAK | NOVEL) of a confidence for a pattern."""

    @extend_schema(
        parameters=[
            OpenApiParameter("pattern", str, required=True),
            OpenApiParameter("confidence", float, required=True),
        ],
        responses={200: PatternBandSerializer},
    )
    def get(self, request):
        query = PatternBandQuerySerializer(
            data={key: request.query_params.get(key) for key in ("pattern", "confidence")}
        )
        query.is_valid(raise_exception=True)
        tenant_id = request_tenant(request).pk
        pattern = query.validated_data["pattern"]
        confidence = query.validated_data["confidence"]
        calibration = selectors.pattern_calibration(tenant_id=tenant_id, pattern=pattern)
        return Response(
            {
                "pattern": pattern,
                "confidence": confidence,
                "band": selectors.pattern_band(
                    tenant_id=tenant_id, pattern=pattern, confidence=confidence
                ),
                "is_calibrated": bool(calibration and calibration.is_calibrated),
                "strong_threshold": calibration.strong_threshold
                if calibration
                else DEFAULT_STRONG_THRESHOLD,
                "weak_threshold": calibration.weak_threshold
                if calibration
                else DEFAULT_WEAK_THRESHOLD,
            }
        )


class ConfidenceReportView(APIView):
    """The adaptive confidence report: per-pattern thresholds, global accuracy, counts."""

    @extend_schema(responses={200: ConfidenceReportSerializer})
    def get(self, request):
        return Response(selectors.adaptive_confidence_report(tenant_id=request_tenant(request).pk))
