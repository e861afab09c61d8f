"""Learning events API: ingestion, queries, stats, settings and the confidence-filter report."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api.permissions import IsMachineOrReviewer
from governance.api.tenancy import request_actor, request_tenant
from governance.errors import ValidationFailed
from learning.api.events_serializers import (
    ConfidenceFilterInSerializer,
    ConfidenceFilterReportSerializer,
    EventBatchInSerializer,
    EventIngestResultSerializer,
    EventInSerializer,
    EventPageSerializer,
    EventQuerySerializer,
    EventSerializer,
    LearningEngineConfigPatchSerializer,
    LearningEngineConfigPendingSerializer,
    LearningEngineConfigSerializer,
    LearningStatsSerializer,
)
from learning.services import events as services


class EventsView(APIView):
    """``GET``: query events; ``POST``: record one event."""

    @extend_schema(
        parameters=[EventQuerySerializer],
        responses=EventPageSerializer,
        description="Events newest first (order=asc for oldest first), filtered by type, "
        "source, subject and time range [start, end), at most `limit` (capped by the "
        "tenant's max_events_memory).",
    )
    def get(self, request):
        params = request.query_params.dict()
        params.pop("tenant", None)  # names the tenant for a logged-in user, not a filter
        query = EventQuerySerializer(data=params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        events = list(
            services.events_query(
                tenant_id=request_tenant(request).pk,
                event_type=values.get("event_type"),
                source_engine=values.get("source_engine"),
                subject=values.get("subject"),
                start=values.get("start"),
                end=values.get("end"),
                limit=values["limit"],
                ascending=values["order"] == "asc",
            )
        )
        return Response({"count": len(events), "results": EventSerializer(events, many=True).data})

    @extend_schema(
        request=EventInSerializer,
        responses={201: EventIngestResultSerializer},
        description="Record one event. An event of a type whose collection switch is off is "
        "refused (400) with the switch named.",
    )
    def post(self, request):
        try:
            result = services.events_record(tenant=request_tenant(request), items=[request.data])
        except ValidationFailed as exc:
            errors = exc.errors.get("events")
            if isinstance(errors, dict) and "0" in errors:
                raise ValidationFailed(errors["0"]) from exc
            raise
        return Response(result.as_dict(), status=status.HTTP_201_CREATED)


class EventBatchView(APIView):
    @extend_schema(
        request=EventBatchInSerializer,
        responses={201: EventIngestResultSerializer},
        description="Record up to 10,000 events in one statement, all or nothing: one bad "
        "event stores nothing and is named by index and field.",
    )
    def post(self, request):
        body = request.data
        if not isinstance(body, dict):
            raise ValidationFailed({"non_field_errors": ["expected an object with 'events'"]})
        unknown = sorted(set(body) - {"events"})
        if unknown:
            raise ValidationFailed({name: ["unknown field"] for name in unknown})
        result = services.events_record(tenant=request_tenant(request), items=body.get("events"))
        return Response(result.as_dict(), status=status.HTTP_201_CREATED)


class StatsView(APIView):
    @extend_schema(responses=LearningStatsSerializer)
    def get(self, request):
        return Response(services.learning_stats(tenant_id=request_tenant(request).pk))


class EngineConfigView(APIView):
    def get_permissions(self):
        if self.request.method == "PATCH":
            return [IsMachineOrReviewer()]
        return super().get_permissions()

    @extend_schema(responses=LearningEngineConfigSerializer)
    def get(self, request):
        return Response(services.learning_config_values(tenant=request_tenant(request)))

    @extend_schema(
        request=LearningEngineConfigPatchSerializer,
        responses={
            200: LearningEngineConfigSerializer,
            202: LearningEngineConfigPendingSerializer,
        },
        description="Change settings, governed like a config (on the ledger): a change that "
        "only tightens applies (200, the config); switching collection off, shorter retention "
        "or a looser calibrator gate is a change request a second reviewer approves (202).",
    )
    def patch(self, request):
        data = LearningEngineConfigPatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        reason = changes.pop("reason")
        outcome = services.learning_config_update(
            tenant=request_tenant(request),
            actor=request_actor(request),
            changes=changes,
            reason=reason,
        )
        if outcome.pending:
            body = {"config": outcome.values, "change_requests": outcome.pending}
            return Response(
                LearningEngineConfigPendingSerializer(body).data, status=status.HTTP_202_ACCEPTED
            )
        return Response(outcome.values)


class ConfidenceFilterReportView(APIView):
    @extend_schema(
        request=ConfidenceFilterInSerializer,
        responses={201: ConfidenceFilterReportSerializer},
        description="Baseline (all SIGNAL_ACCURACY outcomes) against filtered (confidence >= "
        "threshold; raw, or calibrated by the model's PRODUCTION calibrator) win rate, "
        "Sharpe ratio and profit factor. Recorded as a METRIC_RECORDED event.",
    )
    def post(self, request):
        data = ConfidenceFilterInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        report = services.confidence_filter_report(
            tenant=request_tenant(request),
            threshold=values["threshold"],
            actor=request_actor(request),
            use_calibration=values["use_calibration"],
            model_name=values["model"],
            source_engine=values.get("source_engine"),
            since=values.get("since"),
            until=values.get("until"),
        )
        return Response(report, status=status.HTTP_201_CREATED)
