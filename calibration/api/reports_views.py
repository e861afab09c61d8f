"""Read-only API of the calibration pipeline's outputs, scoped to the request's tenant
(another tenant's ids are 404). The pipeline itself runs on schedule or from
``manage.py calibration_pipeline``; a proposal is decided through its config version."""

from __future__ import annotations

from django.db.models import Prefetch
from rest_framework import viewsets

from calibration.api.reports_serializers import (
    CalibrationReportSerializer,
    ConfigProposalSerializer,
    MetricsSnapshotListSerializer,
    MetricsSnapshotSerializer,
)
from calibration.models import (
    CalibrationFinding,
    CalibrationReport,
    ConfigProposal,
    MetricsSnapshot,
)
from governance.api.tenancy import TenantScopedMixin


class MetricsSnapshotViewSet(TenantScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Metric snapshots, newest first; the list leaves out the metrics themselves."""

    queryset = MetricsSnapshot.objects.order_by("-created_at", "-id")

    def get_serializer_class(self):
        if self.action == "list":
            return MetricsSnapshotListSerializer
        return MetricsSnapshotSerializer

    def get_queryset(self):
        queryset = super().get_queryset()
        return queryset.defer("metrics") if self.action == "list" else queryset


class CalibrationReportViewSet(TenantScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Calibration reports with their findings, newest first (``?snapshot=<id>`` filters)."""

    serializer_class = CalibrationReportSerializer
    queryset = (
        CalibrationReport.objects.select_related("proposal")
        .prefetch_related(
            Prefetch("findings", queryset=CalibrationFinding.objects.order_by("position"))
        )
        .order_by("-created_at", "-id")
    )
    filterset_fields = ["snapshot"]


class ConfigProposalViewSet(TenantScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Config proposals made from calibration reports, newest first (``?status=``,
    ``?report=``)."""

    serializer_class = ConfigProposalSerializer
    queryset = ConfigProposal.objects.select_related("base_version", "proposed_version").order_by(
        "-created_at", "-id"
    )
    filterset_fields = ["status", "report"]
