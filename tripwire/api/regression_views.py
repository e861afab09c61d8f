"""The seed's regression endpoints under /api/governance/regression/."""

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api.hygiene import FormParser, JSONParser, MultiPartParser
from governance.api.permissions import IsMachineOrReviewer, IsReviewer
from governance.api.settings_serializers import SettingsChangeSerializer
from governance.api.settings_views import settings_outcome_response
from governance.api.tenancy import request_actor, request_tenant
from governance.errors import ValidationFailed
from tripwire.api import regression_serializers as s
from tripwire.models import RegressionPolicy, RegressionState
from tripwire.services import regression as services


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _policy(request, domain: str, metric: str) -> RegressionPolicy:
    policy = RegressionPolicy.objects.filter(
        tenant=request_tenant(request), domain=domain, metric=metric
    ).first()
    if policy is None:
        raise NotFound(f"no regression policy for {domain}.{metric}")
    return policy


def _state(policy: RegressionPolicy) -> RegressionState:
    return RegressionState.objects.select_related("policy", "acknowledged_by").get(policy=policy)


class PoliciesView(APIView):
    @extend_schema(responses=s.RegressionPolicySerializer(many=True))
    def get(self, request):
        policies = RegressionPolicy.objects.filter(tenant=request_tenant(request))
        return Response(s.RegressionPolicySerializer(policies, many=True).data)


class PolicyUpsertView(APIView):
    permission_classes = [IsMachineOrReviewer]

    @extend_schema(
        request=s.RegressionPolicyUpsertSerializer,
        responses={200: s.RegressionPolicySerializer, 202: SettingsChangeSerializer},
        description="Create or change a policy. A change that only tightens the tripwire "
        "applies (200, the policy); one that loosens it (disable, a higher max drop, a weaker "
        "action...) is a change request a second reviewer approves (202, the request).",
    )
    def post(self, request):
        values = _valid(s.RegressionPolicyUpsertSerializer, request.data)
        if "tiers" in values:
            values["tiers"] = [dict(t) for t in values["tiers"]]
        outcome = services.regression_policy_upsert(
            tenant=request_tenant(request), actor=request_actor(request), **values
        )
        return settings_outcome_response(outcome, s.RegressionPolicySerializer)


class StateView(APIView):
    @extend_schema(responses=s.RegressionStateSerializer(many=True))
    def get(self, request):
        states = (
            RegressionState.objects.filter(policy__tenant=request_tenant(request))
            .select_related("policy", "acknowledged_by")
            .order_by("policy__domain", "policy__metric")
        )
        return Response(s.RegressionStateSerializer(states, many=True).data)


class EvaluateView(APIView):
    """Evaluate one policy now (form-encoded or JSON body) and answer its state."""

    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(request=s.EvaluateSerializer, responses=s.RegressionStateSerializer)
    def post(self, request):
        values = _valid(s.EvaluateSerializer, request.data)
        policy = _policy(request, values["domain"], values["metric"])
        services.regression_evaluate(policy=policy, requested_by=request_actor(request))
        return Response(s.RegressionStateSerializer(_state(policy)).data)


class KPIView(APIView):
    """Record one KPI event."""

    parser_classes = [JSONParser]

    @extend_schema(request=s.KPIEventInSerializer, responses={201: s.IngestResultSerializer})
    def post(self, request):
        if not isinstance(request.data, dict):
            raise ValidationFailed({"non_field_errors": ["expected a JSON object"]})
        result = services.kpi_record(tenant=request_tenant(request), event=request.data)
        return Response(result.as_dict(), status=201)


class KPIBatchView(APIView):
    """Up to 10,000 KPI events, all or nothing: errors name the index and the field."""

    parser_classes = [JSONParser]

    @extend_schema(request=s.KPIBatchInSerializer, responses={201: s.IngestResultSerializer})
    def post(self, request):
        body = request.data
        if not isinstance(body, dict):
            raise ValidationFailed({"non_field_errors": ['expected {"events": [...]}']})
        unknown = sorted(set(body) - {"events"})
        if unknown:
            raise ValidationFailed({name: ["unknown field"] for name in unknown})
        if "events" not in body:
            raise ValidationFailed({"events": ["this field is required"]})
        result = services.kpi_ingest(tenant=request_tenant(request), items=body["events"])
        return Response(result.as_dict(), status=201)


class AcknowledgeView(APIView):
    """A reviewer acknowledges a triggered tripwire (re-enabling a throttled risk policy only
    when asked)."""

    permission_classes = [IsReviewer]

    @extend_schema(request=s.AcknowledgeSerializer, responses=s.RegressionStateSerializer)
    def post(self, request):
        values = _valid(s.AcknowledgeSerializer, request.data)
        policy = _policy(request, values["domain"], values["metric"])
        services.regression_acknowledge(
            policy=policy,
            user=request.user,
            reason=values["reason"],
            reenable_risk_policy=values["reenable_risk_policy"],
        )
        return Response(s.RegressionStateSerializer(_state(policy)).data)
