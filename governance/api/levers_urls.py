"""The seed's control-lever paths under /api/governance/ (no trailing slashes, as the seed)."""

from django.urls import path

from governance.api import levers_views as v

urlpatterns = [
    path("go-live/state", v.GoLiveStateView.as_view(), name="go-live-state"),
    path("go-live/enable", v.GoLiveEnableView.as_view(), name="go-live-enable"),
    path("go-live/disable", v.GoLiveDisableView.as_view(), name="go-live-disable"),
    path("go-live/kill-switch/engage", v.KillSwitchEngageView.as_view(), name="kill-switch-engage"),
    path(
        "go-live/kill-switch/release", v.KillSwitchReleaseView.as_view(), name="kill-switch-release"
    ),
    path("risk/policies", v.RiskPoliciesView.as_view(), name="risk-policies"),
    path("risk/reserve", v.RiskReserveView.as_view(), name="risk-reserve"),
    path("risk/settle", v.RiskSettleView.as_view(), name="risk-settle"),
    path("risk/reservations/<int:pk>", v.RiskReservationView.as_view(), name="risk-reservation"),
    path("risk/ledger/today", v.RiskLedgerTodayView.as_view(), name="risk-ledger-today"),
    path("heimdall/policies", v.CharterPoliciesView.as_view(), name="heimdall-policies"),
    path("heimdall/trials", v.SandboxTrialView.as_view(), name="heimdall-trials"),
    path("heimdall/eligibility", v.EligibilityView.as_view(), name="heimdall-eligibility"),
    path("heimdall/scorecard/today", v.ScorecardTodayView.as_view(), name="heimdall-scorecard"),
]
