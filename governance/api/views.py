from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from governance import selectors
from governance.api.permissions import IsReviewer
from governance.api.serializers import (
    ActivateSerializer,
    ActiveConfigSerializer,
    CheckpointCreateSerializer,
    CheckpointSerializer,
    ConfigVersionCreateSerializer,
    ConfigVersionSerializer,
    DiffSerializer,
    LedgerEntrySerializer,
    PayloadEditSerializer,
    RollbackReportSerializer,
    StaleBaseSerializer,
)
from governance.api.serializers_base import ReasonSerializer
from governance.api.tenancy import TenantScopedMixin, request_actor, request_tenant
from governance.models import (
    Checkpoint,
    ConfigVersion,
    RollbackReport,
    VersionApproval,
    VersionState,
)
from governance.services import checkpoints as checkpoint_services
from governance.services import versions as version_services
from governance.services.rollouts import config_for_case


class ConfigVersionFilter(filters.FilterSet):
    family = filters.CharFilter(field_name="family__name")
    state = filters.ChoiceFilter(choices=VersionState.choices)
    source = filters.CharFilter()

    class Meta:
        model = ConfigVersion
        fields = ["family", "state", "source"]


class ConfigVersionViewSet(
    TenantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Config versions of the request's tenant. Machines register and submit; reviewers
    approve, reject, activate, deprecate and roll back."""

    serializer_class = ConfigVersionSerializer
    filterset_class = ConfigVersionFilter
    queryset = ConfigVersion.objects.select_related("family", "base_version").prefetch_related(
        Prefetch("approvals", queryset=VersionApproval.objects.select_related("reviewer"))
    )

    def _respond(self, version, code=status.HTTP_200_OK):
        version = self.get_queryset().get(pk=version.pk)
        return Response(ConfigVersionSerializer(version).data, status=code)

    @extend_schema(request=ConfigVersionCreateSerializer, responses={201: ConfigVersionSerializer})
    def create(self, request):
        data = ConfigVersionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        tenant = self.tenant
        base = None
        if values.get("base_version"):
            base = ConfigVersion.objects.filter(
                tenant=tenant, family__name=values["family"], version=values["base_version"]
            ).first()
            if base is None:
                return Response({"base_version": ["no such version"]}, status=400)
        version = version_services.version_register(
            tenant=tenant,
            family=values["family"],
            version=values["version"],
            payload=values["payload"],
            description=values["description"],
            changes=[
                {**c, "date": c["date"].isoformat()} if c.get("date") else c
                for c in values["changes"]
            ],
            base_version=base,
            actor=request_actor(request),
            submit=values["submit"],
        )
        return self._respond(version, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=ConfigVersionSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        version = version_services.version_submit(
            version=self.get_object(), actor=request_actor(request)
        )
        return self._respond(version)

    @extend_schema(request=PayloadEditSerializer, responses=ConfigVersionSerializer)
    @action(detail=True, methods=["post"], url_path="edit-payload")
    def edit_payload(self, request, pk=None):
        data = PayloadEditSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = version_services.version_update_payload(
            version=self.get_object(),
            payload=data.validated_data["payload"],
            actor=request_actor(request),
        )
        return self._respond(version)

    def _reason(self, request) -> str:
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return data.validated_data["reason"]

    @extend_schema(request=ReasonSerializer, responses=ConfigVersionSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsReviewer])
    def approve(self, request, pk=None):
        version = version_services.version_approve(
            version=self.get_object(), user=request.user, reason=self._reason(request)
        )
        return self._respond(version)

    @extend_schema(request=ReasonSerializer, responses=ConfigVersionSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsReviewer])
    def reject(self, request, pk=None):
        version = version_services.version_reject(
            version=self.get_object(), user=request.user, reason=self._reason(request)
        )
        return self._respond(version)

    @extend_schema(
        request=ActivateSerializer,
        responses={200: ConfigVersionSerializer, 409: StaleBaseSerializer},
    )
    @action(detail=True, methods=["post"], permission_classes=[IsReviewer])
    def activate(self, request, pk=None):
        data = ActivateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = version_services.version_activate(
            version=self.get_object(), user=request.user, **data.validated_data
        )
        return self._respond(version)

    @extend_schema(request=ReasonSerializer, responses=ConfigVersionSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsReviewer])
    def deprecate(self, request, pk=None):
        version = version_services.version_deprecate(
            version=self.get_object(), user=request.user, reason=self._reason(request)
        )
        return self._respond(version)

    @extend_schema(request=ReasonSerializer, responses=ConfigVersionSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsReviewer])
    def rollback(self, request, pk=None):
        version = version_services.version_rollback(
            version=self.get_object(), user=request.user, reason=self._reason(request)
        )
        return self._respond(version)

    @extend_schema(request=ReasonSerializer, responses={201: ConfigVersionSerializer})
    @action(detail=True, methods=["post"], permission_classes=[IsReviewer])
    def rebase(self, request, pk=None):
        """Replay this stale version's changes onto the active version as a new DRAFT."""
        version = version_services.version_rebase(
            version=self.get_object(), user=request.user, reason=self._reason(request)
        )
        return self._respond(version, status.HTTP_201_CREATED)

    @extend_schema(responses=RollbackReportSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="rollback-reports")
    def rollback_reports(self, request, pk=None):
        reports = selectors.rollback_reports_for(version=self.get_object())
        return Response(RollbackReportSerializer(reports, many=True).data)

    @extend_schema(responses=DiffSerializer)
    @action(detail=True, methods=["get"])
    def diff(self, request, pk=None):
        return Response(selectors.version_diff(version=self.get_object()))

    @extend_schema(responses=LedgerEntrySerializer(many=True))
    @action(detail=True, methods=["get"])
    def history(self, request, pk=None):
        entries = selectors.ledger_for_subject(subject=self.get_object())
        return Response(LedgerEntrySerializer(entries, many=True).data)


def _etag_matches(header: str, etag: str) -> bool:
    # If-None-Match compares weakly (RFC 9110 13.1.2): a W/ prefix does not matter.
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


class RollbackReportViewSet(TenantScopedMixin, viewsets.ReadOnlyModelViewSet):
    """What each rollback changed (seed 001): from, to, the diff, who, why, and the
    checkpoint and ledger ids of the decision."""

    serializer_class = RollbackReportSerializer
    queryset = RollbackReport.objects.select_related("family", "rolled_back_from", "rolled_back_to")
    filterset_fields = ["automatic"]


class ActiveConfigView(APIView):
    """The runtime read of a family's ACTIVE version (cached; invalidated on activation).
    Answers with an ``ETag``; a matching ``If-None-Match`` gets 304 from the cached entry."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "If-None-Match",
                str,
                OpenApiParameter.HEADER,
                description="The ETag of the copy the client holds: 304 while it is current.",
            ),
            OpenApiParameter(
                "client_id",
                str,
                required=False,
                description="The case's id: during a guarded rollout, the config of its cohort.",
            ),
        ],
        responses={
            200: ActiveConfigSerializer,
            304: OpenApiResponse(description="The client's copy (its ETag) is current."),
        },
    )
    def get(self, request, family: str):
        tenant_id = request_tenant(request).pk
        client_id = request.query_params.get("client_id")
        split = None
        if client_id:
            split = config_for_case(tenant_id=tenant_id, family=family, client_id=client_id[:64])
            if split is not None and "id" in split:
                return Response(split)
        config = selectors.active_config(tenant_id=tenant_id, family=family)
        if config is None:
            raise NotFound(f"no active {family} version")
        if split:
            # During a rollout the answer depends on the case's cohort and the stage: no ETag.
            return Response({**config, **split})
        etag = selectors.active_config_etag(config)
        # no-cache: shared caches may store the answer but must revalidate it every time.
        headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
        if _etag_matches(request.headers.get("If-None-Match", ""), etag):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(config, headers=headers)


class CheckpointViewSet(TenantScopedMixin, viewsets.ReadOnlyModelViewSet):
    """The tenant's queue. Machines and people of the tenant open review requests (auto-approved
    only within the tenant's bounds); reviewers decide, a checkpoint with a subject through its
    subject."""

    serializer_class = CheckpointSerializer
    queryset = Checkpoint.objects.all().order_by("priority", "created_at", "id")
    filterset_fields = ["state", "checkpoint_type", "blocking"]

    @extend_schema(request=CheckpointCreateSerializer, responses={201: CheckpointSerializer})
    def create(self, request):
        data = CheckpointCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        subject = values.get("subject") or {}
        checkpoint = checkpoint_services.checkpoint_request_open(
            tenant=self.tenant,
            checkpoint_type=values["checkpoint_type"],
            description=values["description"],
            subject_type=subject.get("type", ""),
            subject_id=subject.get("id", ""),
            confidence=values["confidence"],
            priority=values["priority"],
            actor=request_actor(request),
        )
        return Response(CheckpointSerializer(checkpoint).data, status=status.HTTP_201_CREATED)

    def _resolve(self, request, approve: bool):
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        checkpoint = checkpoint_services.checkpoint_resolve(
            checkpoint=self.get_object(),
            approve=approve,
            user=request.user,
            reason=data.validated_data["reason"],
        )
        return Response(CheckpointSerializer(checkpoint).data)

    @extend_schema(request=ReasonSerializer, responses=CheckpointSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsReviewer])
    def approve(self, request, pk=None):
        return self._resolve(request, True)

    @extend_schema(request=ReasonSerializer, responses=CheckpointSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsReviewer])
    def reject(self, request, pk=None):
        return self._resolve(request, False)


def get_tenant_object(request, queryset, **lookup):
    return get_object_or_404(queryset, tenant=request_tenant(request), **lookup)
