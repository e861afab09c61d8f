"""The active learning loop API: cases, runs and their results, failure analyses, proposals
(sandbox, promote) and sandbox runs. Views only call services."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from governance.api.tenancy import TenantScopedMixin, request_actor
from governance.errors import ValidationFailed
from governance.models import ConfigVersion
from learning.api.loop_serializers import (
    BacktestCaseSerializer,
    BacktestCaseUpdateSerializer,
    BacktestCaseWriteSerializer,
    BacktestResultPageSerializer,
    BacktestResultSerializer,
    BacktestRunCreateSerializer,
    BacktestRunSerializer,
    FailureAnalysisSerializer,
    LoopProposalSerializer,
    PromotedVersionSerializer,
    PromoteRequestSerializer,
    ProposalGenerateSerializer,
    SandboxRequestSerializer,
    SandboxRunSerializer,
)
from learning.models import (
    BacktestCase,
    BacktestRun,
    BacktestStatus,
    FailureAnalysis,
    LoopProposal,
    RunTrigger,
    SandboxRun,
)
from learning.services import loop as services


class BacktestCaseViewSet(
    TenantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Backtest cases of the request's tenant, addressed by ``case_id``. DELETE retires a
    case (kept for past runs, no longer replayed)."""

    serializer_class = BacktestCaseSerializer
    queryset = BacktestCase.objects.all().order_by("case_id")
    lookup_field = "case_id"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    filterset_fields = ["protected", "active", "expected_decision"]

    @extend_schema(request=BacktestCaseWriteSerializer, responses={201: BacktestCaseSerializer})
    def create(self, request):
        data = BacktestCaseWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        case = services.backtest_case_create(
            tenant=self.tenant, data=data.validated_data, actor=request_actor(request)
        )
        return Response(BacktestCaseSerializer(case).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=BacktestCaseUpdateSerializer, responses=BacktestCaseSerializer)
    def partial_update(self, request, case_id=None):
        data = BacktestCaseUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        case = services.backtest_case_update(
            case=self.get_object(), data=data.validated_data, actor=request_actor(request)
        )
        return Response(BacktestCaseSerializer(case).data)

    def perform_destroy(self, instance):
        services.backtest_case_delete(case=instance, actor=request_actor(self.request))


class BacktestRunViewSet(
    TenantScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = BacktestRunSerializer
    queryset = BacktestRun.objects.select_related("config_version").order_by("-started_at", "-id")
    filterset_fields = ["trigger"]

    @extend_schema(request=BacktestRunCreateSerializer, responses={201: BacktestRunSerializer})
    def create(self, request):
        data = BacktestRunCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = None
        if data.validated_data.get("config_version") is not None:
            version = ConfigVersion.objects.filter(
                tenant=self.tenant, pk=data.validated_data["config_version"]
            ).first()
            if version is None:
                raise ValidationFailed({"config_version": ["no such config version"]})
        run = services.backtest_run_execute(
            tenant=self.tenant,
            actor=request_actor(request),
            config_version=version,
            trigger=RunTrigger.API,
            analyze_failures=True,
        )
        return Response(BacktestRunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[OpenApiParameter("status", enum=BacktestStatus.values, required=False)],
        responses=BacktestResultPageSerializer,
    )
    @action(detail=True, methods=["get"])
    def results(self, request, pk=None):
        run = self.get_object()
        results = run.results.select_related("case").order_by("case__case_id")
        wanted = request.query_params.get("status")
        if wanted:
            if wanted not in BacktestStatus.values:
                raise ValidationFailed({"status": [f"must be one of {BacktestStatus.values}"]})
            results = results.filter(status=wanted)
        page = self.paginate_queryset(results)
        return self.get_paginated_response(BacktestResultSerializer(page, many=True).data)


class FailureAnalysisViewSet(TenantScopedMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = FailureAnalysisSerializer
    queryset = FailureAnalysis.objects.select_related("run", "case", "proposal").order_by(
        "failure_id"
    )
    filterset_fields = ["state", "hypothesis", "run"]

    @extend_schema(request=ProposalGenerateSerializer, responses={201: LoopProposalSerializer})
    @action(detail=True, methods=["post"])
    def propose(self, request, pk=None):
        data = ProposalGenerateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        proposal = services.proposal_generate(
            failure=self.get_object(), actor=request_actor(request), **data.validated_data
        )
        if proposal is None:
            raise ValidationFailed(
                {"failure": ["no bounded threshold, weight or flag rule change fixes this case"]}
            )
        return Response(LoopProposalSerializer(proposal).data, status=status.HTTP_201_CREATED)


class LoopProposalViewSet(TenantScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Proposals: PROPOSED -> SANDBOXED -> ELIGIBLE | INELIGIBLE -> PROMOTED. Promotion
    registers a PENDING_APPROVAL version; approving and activating it is a human act."""

    serializer_class = LoopProposalSerializer
    queryset = LoopProposal.objects.select_related(
        "failure", "base_version", "promoted_version"
    ).order_by("proposal_id")
    filterset_fields = ["state", "kind"]

    @extend_schema(request=SandboxRequestSerializer, responses={201: SandboxRunSerializer})
    @action(detail=True, methods=["post"])
    def sandbox(self, request, pk=None):
        data = SandboxRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.proposal_sandbox(
            proposal=self.get_object(), actor=request_actor(request), **data.validated_data
        )
        return Response(SandboxRunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=PromoteRequestSerializer, responses={201: PromotedVersionSerializer})
    @action(detail=True, methods=["post"])
    def promote(self, request, pk=None):
        data = PromoteRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.proposal_promote(
            proposal=self.get_object(), actor=request_actor(request), **data.validated_data
        )
        body = {
            "id": version.pk,
            "family": version.family.name,
            "version": version.version,
            "state": version.state,
            "source": version.source,
            "base_version": version.base_version.version,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class SandboxRunViewSet(TenantScopedMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = SandboxRunSerializer
    queryset = SandboxRun.objects.select_related("proposal").order_by("-executed_at", "-id")
    filterset_fields = ["promotion_eligible"]
