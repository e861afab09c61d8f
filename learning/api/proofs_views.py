"""The learning proofs API: incidents, learned policies and their transitions, preventions,
regret events, graduation status and prevention timelines. Views only call services and
selectors."""

from __future__ import annotations

from django.db.models import Count
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api.permissions import IsReviewer
from governance.api.serializers_base import ReasonSerializer
from governance.api.tenancy import (
    TenantScopedMixin,
    request_actor,
    request_human,
    request_tenant,
)
from governance.errors import ValidationFailed
from learning import selectors_proofs as selectors
from learning.api.proofs_serializers import (
    ConsoleProofSerializer,
    GraduationSerializer,
    IncidentCreateSerializer,
    IncidentSerializer,
    PatternSerializer,
    PolicyCreateSerializer,
    PolicySerializer,
    PreventionCreateSerializer,
    PreventionSerializer,
    PreventionStatsSerializer,
    RegretEventCreateSerializer,
    RegretEventSerializer,
    RegretStatsSerializer,
    RollbackTimelineSerializer,
    TimelineSerializer,
)
from learning.models.proofs import (
    Incident,
    LearnedPolicy,
    Pattern,
    PreventionRecord,
    RegretEvent,
    RegretType,
)
from learning.services import proofs as services


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _tenant_object(model, request, field: str, pk: int | None):
    """A body field naming a row of the request's tenant: another tenant's id is 'no such'."""
    if pk is None:
        return None
    obj = model.objects.filter(tenant=request_tenant(request), pk=pk).first()
    if obj is None:
        raise ValidationFailed({field: [f"no such {field.replace('_', ' ')}"]})
    return obj


class PatternViewSet(TenantScopedMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = PatternSerializer
    queryset = Pattern.objects.annotate(incident_count=Count("incidents")).order_by("key")
    filterset_fields = ["key"]


class IncidentViewSet(
    TenantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Incidents of the request's tenant, grouped by pattern. Each has a prevention timeline."""

    serializer_class = IncidentSerializer
    queryset = Incident.objects.select_related("pattern").order_by("-occurred_at", "-id")
    filterset_fields = {"severity": ["exact", "gte"], "pattern__key": ["exact"]}

    @extend_schema(request=IncidentCreateSerializer, responses={201: IncidentSerializer})
    def create(self, request):
        values = _valid(IncidentCreateSerializer, request)
        incident = services.incident_record(
            tenant=self.tenant,
            pattern_key=values["pattern"],
            pattern_name=values["pattern_name"],
            signature=values["signature"],
            severity=values["severity"],
            title=values["title"],
            occurred_at=values.get("occurred_at"),
            event_id=values.get("event_id"),
            actor=request_actor(request),
        )
        return Response(IncidentSerializer(incident).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=TimelineSerializer)
    @action(detail=True, methods=["get"])
    def timeline(self, request, pk=None):
        """The seed's ``PreventionTimeline.to_console``: ordered events and a narrative."""
        return Response(selectors.prevention_timeline(incident=self.get_object()).to_console())

    @extend_schema(request=None, responses={201: ConsoleProofSerializer})
    @action(
        detail=True, methods=["post"], url_path="console-proof", permission_classes=[IsReviewer]
    )
    def console_proof(self, request, pk=None):
        """Gate 3: a reviewer records that this incident's timeline shows the loop."""
        proof = services.timeline_record_console_proof(
            incident=self.get_object(), user=request.user
        )
        return Response(ConsoleProofSerializer(proof).data, status=status.HTTP_201_CREATED)


class PolicyViewSet(
    TenantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Learned policies: born (SHADOW) from an incident; activate, demote (manual override)
    and reinstate are reviewer acts; retire is open to the tenant's principals."""

    serializer_class = PolicySerializer
    queryset = LearnedPolicy.objects.select_related(
        "pattern", "demoted_by", "reinstated_by"
    ).order_by("-born_at", "-id")
    filterset_fields = {"state": ["exact"], "pattern__key": ["exact"]}

    def _respond(self, policy, code=status.HTTP_200_OK):
        return Response(PolicySerializer(self.get_queryset().get(pk=policy.pk)).data, status=code)

    @extend_schema(request=PolicyCreateSerializer, responses={201: PolicySerializer})
    def create(self, request):
        values = _valid(PolicyCreateSerializer, request)
        incident = _tenant_object(Incident, request, "incident", values.pop("incident"))
        policy = services.policy_create_from_incident(
            incident=incident, actor=request_actor(request), **values
        )
        return self._respond(policy, status.HTTP_201_CREATED)

    @extend_schema(request=ReasonSerializer, responses=PolicySerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsReviewer])
    def activate(self, request, pk=None):
        values = _valid(ReasonSerializer, request)
        policy = services.policy_activate(
            policy=self.get_object(), user=request.user, reason=values["reason"]
        )
        return self._respond(policy)

    @extend_schema(request=ReasonSerializer, responses=PolicySerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsReviewer])
    def demote(self, request, pk=None):
        values = _valid(ReasonSerializer, request)
        policy = services.policy_demote(
            policy=self.get_object(), user=request.user, reason=values["reason"]
        )
        return self._respond(policy)

    @extend_schema(request=ReasonSerializer, responses=PolicySerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsReviewer])
    def reinstate(self, request, pk=None):
        values = _valid(ReasonSerializer, request)
        policy = services.policy_reinstate(
            policy=self.get_object(), user=request.user, reason=values["reason"]
        )
        return self._respond(policy)

    @extend_schema(request=ReasonSerializer, responses=PolicySerializer)
    @action(detail=True, methods=["post"])
    def retire(self, request, pk=None):
        values = _valid(ReasonSerializer, request)
        policy = services.policy_retire(
            policy=self.get_object(), actor=request_actor(request), reason=values["reason"]
        )
        return self._respond(policy)

    @extend_schema(responses={200: RollbackTimelineSerializer, 204: None})
    @action(detail=True, methods=["get"], url_path="rollback-timeline")
    def rollback_timeline(self, request, pk=None):
        """The seed's ``PolicyRegretTracker.to_rollback_timeline`` (204 unless demoted)."""
        entry = selectors.rollback_timeline(policy=self.get_object())
        if entry is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(entry)


class PreventionViewSet(
    TenantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = PreventionSerializer
    queryset = PreventionRecord.objects.select_related("pattern").order_by("-created_at", "-id")
    filterset_fields = {"outcome": ["exact"], "policy": ["exact"]}

    @extend_schema(request=PreventionCreateSerializer, responses={201: PreventionSerializer})
    def create(self, request):
        values = _valid(PreventionCreateSerializer, request)
        policy = _tenant_object(LearnedPolicy, request, "policy", values.pop("policy"))
        blocked = _tenant_object(
            Incident, request, "blocked_incident", values.pop("blocked_incident", None)
        )
        record = services.prevention_record(
            policy=policy, blocked_incident=blocked, actor=request_actor(request), **values
        )
        record = self.get_queryset().get(pk=record.pk)
        return Response(PreventionSerializer(record).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=PreventionStatsSerializer)
    @action(detail=False, methods=["get"])
    def stats(self, request):
        """The seed's ``PreventionTracker``: rate, proof and top preventing patterns."""
        tenant_id = self.tenant.pk
        counts = selectors.prevention_counts(tenant_id=tenant_id)
        total = counts["prevented"] + counts["recurred"]
        return Response(
            {
                "prevention_rate": counts["prevented"] / total if total else 0.0,
                "has_proven_prevention": selectors.has_proven_prevention(tenant_id=tenant_id),
                "total_preventions": counts["prevented"],
                "total_failures": counts["recurred"],
                "policies_with_prevention": counts["policies_with_prevention"],
                "top_preventing_patterns": [
                    {"pattern": key, "preventions": n}
                    for key, n in selectors.get_top_preventing_patterns(tenant_id=tenant_id)
                ],
            }
        )


class RegretEventViewSet(
    TenantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = RegretEventSerializer
    queryset = RegretEvent.objects.select_related("policy", "manual_override_by").order_by(
        "-created_at", "-id"
    )
    filterset_fields = {
        "regret_type": ["exact"],
        "policy": ["exact"],
        "was_auto_rolled_back": ["exact"],
    }

    @extend_schema(request=RegretEventCreateSerializer, responses={201: RegretEventSerializer})
    def create(self, request):
        values = _valid(RegretEventCreateSerializer, request)
        policy = _tenant_object(LearnedPolicy, request, "policy", values.pop("policy"))
        human = request_human(request)
        event = services.regret_record(
            policy=policy,
            actor=request_actor(request),
            manual_override_by=human if values["regret_type"] == RegretType.USER_OVERRIDE else None,
            **values,
        )
        event = self.get_queryset().get(pk=event.pk)
        return Response(RegretEventSerializer(event).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=RegretStatsSerializer)
    @action(detail=False, methods=["get"])
    def stats(self, request):
        """The seed's ``GlobalRegretTracker``: proven rollback and the system regret rate."""
        tenant_id = self.tenant.pk
        totals = selectors.regret_totals(tenant_id=tenant_id)
        return Response(
            {"has_proven_rollback": selectors.has_proven_rollback(tenant_id=tenant_id), **totals}
        )


class GraduationView(APIView):
    """The seed's ``M25GraduationStatus.to_dashboard`` for the request's tenant."""

    @extend_schema(responses=GraduationSerializer)
    def get(self, request):
        status_ = selectors.graduation_status(tenant_id=request_tenant(request).pk)
        return Response(status_.to_dashboard())
