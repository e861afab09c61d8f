"""Calibrator registry API: the calibrate endpoint, training jobs, model versions."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from calibration.api.registry_serializers import (
    CalibrateInSerializer,
    CalibrateOutSerializer,
    CalibratorArchiveInSerializer,
    CalibratorEvaluateInSerializer,
    CalibratorEvaluationSerializer,
    CalibratorPromoteInSerializer,
    CalibratorVersionSerializer,
    TrainingJobInSerializer,
    TrainingJobSerializer,
)
from calibration.models import CalibratorVersion, TrainingJob
from calibration.services import registry as services
from governance.api.permissions import IsReviewer
from governance.api.tenancy import TenantScopedMixin, request_actor, request_tenant


class CalibrateView(APIView):
    @extend_schema(
        request=CalibrateInSerializer,
        responses=CalibrateOutSerializer,
        description="Calibrated probabilities from the model's PRODUCTION version (404 when "
        "it has none).",
    )
    def post(self, request):
        data = CalibrateInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version, probabilities = services.calibrator_apply(
            tenant_id=request_tenant(request).pk,
            model_name=data.validated_data["model"],
            confidences=data.validated_data["confidences"],
        )
        return Response(
            {
                "model": version.model.name,
                "version": version.number,
                "method": version.method,
                "probabilities": probabilities.tolist(),
            }
        )


class TrainingJobViewSet(
    TenantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = TrainingJobSerializer
    queryset = TrainingJob.objects.select_related("model", "model_version").order_by(
        "-created_at", "-id"
    )
    filterset_fields = ["state", "method"]

    @extend_schema(request=TrainingJobInSerializer, responses={201: TrainingJobSerializer})
    def create(self, request):
        data = TrainingJobInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        sample_filter = {
            key: value.isoformat() if hasattr(value, "isoformat") else value
            for key, value in (values.pop("sample_filter", None) or {}).items()
        }
        job = services.training_job_submit(
            tenant=request_tenant(request),
            actor=request_actor(request),
            sample_filter=sample_filter,
            **values,
        )
        return Response(TrainingJobSerializer(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=TrainingJobSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        job = services.training_job_requeue(job=self.get_object(), actor=request_actor(request))
        return Response(TrainingJobSerializer(job).data)


class ModelVersionViewSet(
    TenantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = CalibratorVersionSerializer
    queryset = (
        CalibratorVersion.objects.select_related("model")
        .prefetch_related("evaluations")
        .order_by("-created_at", "-id")
    )
    filterset_fields = ["stage", "method"]

    def get_queryset(self):
        queryset = super().get_queryset()
        model = self.request.query_params.get("model")
        return queryset.filter(model__name=model) if model else queryset

    def _respond(self, version):
        return Response(CalibratorVersionSerializer(self.get_queryset().get(pk=version.pk)).data)

    @extend_schema(
        request=CalibratorEvaluateInSerializer, responses={201: CalibratorEvaluationSerializer}
    )
    @action(detail=True, methods=["post"])
    def evaluate(self, request, pk=None):
        data = CalibratorEvaluateInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        evaluation = services.calibrator_evaluate(
            version=self.get_object(), actor=request_actor(request), **data.validated_data
        )
        return Response(
            CalibratorEvaluationSerializer(evaluation).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        request=CalibratorPromoteInSerializer,
        responses=CalibratorVersionSerializer,
        description="STAGING: any principal. PRODUCTION: a reviewer, after a passed latest "
        "evaluation (409 `evaluation_required` otherwise); archives the previous production "
        "version.",
    )
    @action(detail=True, methods=["post"])
    def promote(self, request, pk=None):
        data = CalibratorPromoteInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.calibrator_promote(
            version=self.get_object(), actor=request_actor(request), **data.validated_data
        )
        return self._respond(version)

    @extend_schema(request=CalibratorArchiveInSerializer, responses=CalibratorVersionSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsReviewer])
    def archive(self, request, pk=None):
        data = CalibratorArchiveInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.calibrator_archive(
            version=self.get_object(),
            actor=request_actor(request),
            reason=data.validated_data["reason"],
        )
        return self._respond(version)
