"""Control levers API (seed 003 paths): go-live, risk guard, recommendation charter."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api import levers_serializers as s
from governance.api.permissions import IsMachineOrReviewer
from governance.api.serializers_base import ReasonSerializer
from governance.api.settings_serializers import SettingsChangeSerializer
from governance.api.settings_views import settings_outcome_response
from governance.api.tenancy import request_actor, request_tenant
from governance.models import CharterPolicy, RiskPolicy, RiskReservation
from governance.services import levers


def _valid(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class GoLiveStateView(APIView):
    """Is production execution allowed for this tenant?"""

    @extend_schema(responses=s.GoLiveStateSerializer)
    def get(self, request):
        state = levers.go_live_state(tenant=request_tenant(request))
        return Response(s.GoLiveStateSerializer(state).data)


class _GoLiveChangeView(APIView):
    """Machines may tighten (disable, engage); loosening (enable, release) is a reviewer's
    act. The service decides, for every route alike."""

    service = None

    @extend_schema(request=ReasonSerializer, responses=s.GoLiveStateSerializer)
    def post(self, request):
        reason = _valid(ReasonSerializer, request.data)["reason"]
        state = type(self).service(
            tenant=request_tenant(request), actor=request_actor(request), reason=reason
        )
        return Response(s.GoLiveStateSerializer(state).data)


class GoLiveEnableView(_GoLiveChangeView):
    service = staticmethod(levers.go_live_enable)


class GoLiveDisableView(_GoLiveChangeView):
    service = staticmethod(levers.go_live_disable)


class KillSwitchEngageView(_GoLiveChangeView):
    service = staticmethod(levers.go_live_engage_kill_switch)


class KillSwitchReleaseView(_GoLiveChangeView):
    service = staticmethod(levers.go_live_release_kill_switch)


class RiskPoliciesView(APIView):
    """Risk policies. A change is governed like a config (a machine may tighten): disabling or
    a lower cap applies (200); enabling, a higher cap or no cap is a change request (202)."""

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsMachineOrReviewer()]
        return super().get_permissions()

    @extend_schema(responses=s.RiskPolicySerializer(many=True))
    def get(self, request):
        policies = RiskPolicy.objects.filter(tenant=request_tenant(request)).order_by("engine")
        return Response(s.RiskPolicySerializer(policies, many=True).data)

    @extend_schema(
        request=s.RiskPolicyUpsertSerializer,
        responses={200: s.RiskPolicySerializer, 202: SettingsChangeSerializer},
    )
    def post(self, request):
        values = _valid(s.RiskPolicyUpsertSerializer, request.data)
        outcome = levers.risk_policy_upsert(
            tenant=request_tenant(request), actor=request_actor(request), **values
        )
        return settings_outcome_response(outcome, s.RiskPolicySerializer)


class RiskReserveView(APIView):
    """Reserve exposure before acting: ``ok`` with a reservation id, or a denial reason."""

    @extend_schema(request=s.RiskReserveSerializer, responses=s.RiskCheckOutSerializer)
    def post(self, request):
        values = _valid(s.RiskReserveSerializer, request.data)
        check = levers.risk_reserve(
            tenant=request_tenant(request), actor=request_actor(request), **values
        )
        return Response(check.as_dict())


class RiskSettleView(APIView):
    @extend_schema(request=s.RiskSettleSerializer, responses=s.RiskReservationSerializer)
    def post(self, request):
        values = _valid(s.RiskSettleSerializer, request.data)
        reservation = levers.risk_settle(
            tenant=request_tenant(request), actor=request_actor(request), **values
        )
        return Response(s.RiskReservationSerializer(reservation).data)


class RiskLedgerTodayView(APIView):
    @extend_schema(responses=s.RiskLedgerTodaySerializer)
    def get(self, request):
        return Response(levers.risk_ledger_for_day(tenant=request_tenant(request)))


class RiskReservationView(APIView):
    @extend_schema(responses=s.RiskReservationSerializer)
    def get(self, request, pk: int):
        reservation = RiskReservation.objects.filter(pk=pk, tenant=request_tenant(request)).first()
        if reservation is None:
            raise NotFound("reservation not found")
        return Response(s.RiskReservationSerializer(reservation).data)


class CharterPoliciesView(APIView):
    """Charter thresholds, governed like a config: raising one applies (200); lowering one is
    a change request (202)."""

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsMachineOrReviewer()]
        return super().get_permissions()

    @extend_schema(responses=s.CharterPolicySerializer(many=True))
    def get(self, request):
        policies = CharterPolicy.objects.filter(tenant=request_tenant(request)).order_by("domain")
        return Response(s.CharterPolicySerializer(policies, many=True).data)

    @extend_schema(
        request=s.CharterPolicyUpsertSerializer,
        responses={200: s.CharterPolicySerializer, 202: SettingsChangeSerializer},
    )
    def post(self, request):
        values = _valid(s.CharterPolicyUpsertSerializer, request.data)
        outcome = levers.charter_policy_upsert(
            tenant=request_tenant(request), actor=request_actor(request), **values
        )
        return settings_outcome_response(outcome, s.CharterPolicySerializer)


class SandboxTrialView(APIView):
    @extend_schema(request=s.SandboxTrialSerializer, responses={201: s.SandboxTrialOutSerializer})
    def post(self, request):
        values = _valid(s.SandboxTrialSerializer, request.data)
        trial = levers.sandbox_trial_record(tenant=request_tenant(request), **values)
        return Response(
            {
                "id": trial.pk,
                "domain": trial.domain,
                "success": trial.success,
                "confidence": trial.confidence,
                "created_at": trial.created_at,
            },
            status=201,
        )


class EligibilityView(APIView):
    """May a recommendation of this confidence reach production? Lists every unmet condition."""

    @extend_schema(
        parameters=[
            OpenApiParameter("domain", str, required=True),
            OpenApiParameter("confidence", float, required=True),
        ],
        responses=s.EligibilitySerializer,
    )
    def get(self, request):
        query = {k: v for k, v in request.query_params.items() if k not in {"tenant", "format"}}
        values = _valid(s.EligibilityQuerySerializer, query)
        return Response(levers.heimdall_eligibility(tenant=request_tenant(request), **values))


class ScorecardTodayView(APIView):
    @extend_schema(responses=s.ScorecardSerializer)
    def get(self, request):
        return Response(levers.heimdall_scorecard(tenant=request_tenant(request)))
