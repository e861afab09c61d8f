import datetime as dt
from decimal import Decimal

import pytest

from governance.errors import Forbidden, TransitionConflict, ValidationFailed
from governance.models import CharterPolicy, GoLiveState, LedgerEntry, RiskPolicy, RiskReservation
from governance.services import levers
from governance.services.ledger import Actor
from tests.factories.levers import (
    CharterPolicyFactory,
    GoLiveStateFactory,
    RiskPolicyFactory,
)
from tests.factories.settings import arrange_setting

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def live(tenant):
    return GoLiveStateFactory(tenant=tenant, enabled=True)


@pytest.fixture
def token_actor():
    return Actor(kind="token", name="machine")


def _reserve(tenant, exposure="10", engine="WHOLESALE", **kwargs):
    return levers.risk_reserve(
        tenant=tenant,
        engine=engine,
        exposure=Decimal(exposure),
        actor=Actor.system("test"),
        now=kwargs.pop("now", NOW),
        **kwargs,
    )


# go-live ------------------------------------------------------------------------------------


def test_a_tenant_without_go_live_state_reads_as_disabled(tenant):
    state = levers.go_live_state(tenant=tenant)

    assert state.enabled is False and state.kill_switch_engaged is False


@pytest.mark.parametrize(
    "service",
    [
        pytest.param(levers.go_live_enable, id="enable"),
        pytest.param(levers.go_live_release_kill_switch, id="release"),
    ],
)
def test_loosening_go_live_is_a_human_act(tenant, token_actor, service):
    with pytest.raises(Forbidden):
        service(tenant=tenant, actor=token_actor, reason="machine says so")
    assert not GoLiveState.objects.filter(tenant=tenant).exists()


def test_a_reviewer_outside_the_tenant_cannot_release_the_kill_switch(
    tenant, make_reviewer, other_tenant
):
    levers.go_live_engage_kill_switch(tenant=tenant, actor=Actor.system("tripwire"), reason="x")
    outsider = make_reviewer("otto", for_tenant=other_tenant)

    with pytest.raises(Forbidden):
        levers.go_live_release_kill_switch(
            tenant=tenant, actor=Actor.for_user(outsider), reason="not mine"
        )

    assert GoLiveState.objects.get(tenant=tenant).kill_switch_engaged


@pytest.mark.parametrize(
    "service, field, value",
    [
        pytest.param(levers.go_live_engage_kill_switch, "kill_switch_engaged", True, id="engage"),
        pytest.param(levers.go_live_disable, "enabled", False, id="disable"),
    ],
)
def test_a_machine_may_tighten_go_live_at_once(
    tenant, token_actor, reviewer, service, field, value
):
    levers.go_live_enable(tenant=tenant, actor=Actor.for_user(reviewer), reason="launch")

    state = service(tenant=tenant, actor=token_actor, reason="the engine saw something odd")

    assert getattr(state, field) is value
    assert state.changed_by == token_actor.label


def test_each_go_live_change_needs_a_reason_and_is_a_ledger_entry(tenant, reviewer):
    actor = Actor.for_user(reviewer)
    with pytest.raises(ValidationFailed):
        levers.go_live_enable(tenant=tenant, actor=actor, reason="  ")

    levers.go_live_enable(tenant=tenant, actor=actor, reason="launch", now=NOW)
    levers.go_live_engage_kill_switch(tenant=tenant, actor=actor, reason="drill", now=NOW)
    state = levers.go_live_release_kill_switch(tenant=tenant, actor=actor, reason="done", now=NOW)

    assert (state.enabled, state.kill_switch_engaged, state.reason) == (True, False, "done")
    assert state.changed_by == "user:rita"
    kinds = list(
        LedgerEntry.objects.filter(tenant=tenant, kind__startswith="go_live").values_list(
            "kind", flat=True
        )
    )
    assert kinds == [
        "go_live.enabled",
        "go_live.kill_switch_engaged",
        "go_live.kill_switch_released",
    ]


def test_releasing_a_released_kill_switch_is_a_conflict(tenant, reviewer, live):
    with pytest.raises(TransitionConflict) as raised:
        levers.go_live_release_kill_switch(
            tenant=tenant, actor=Actor.for_user(reviewer), reason="again"
        )
    assert raised.value.current_state == "enabled"


# risk guard ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        pytest.param({"go_live": False}, "go_live_disabled", id="go-live-disabled"),
        pytest.param({"kill": True}, "kill_switch", id="kill-switch"),
        pytest.param({"policy": None}, "policy_disabled", id="no-policy"),
        pytest.param({"policy": {"enabled": False}}, "policy_disabled", id="policy-disabled"),
        pytest.param(
            {"policy": {"max_daily_exposure": Decimal("5")}}, "exposure_cap", id="exposure-cap"
        ),
        pytest.param({"policy": {"max_daily_actions": 0}}, "action_cap", id="action-cap"),
        pytest.param({"policy": {"max_daily_loss": Decimal("0")}}, "loss_cap", id="loss-cap"),
    ],
)
def test_reserve_denies_with_the_reason_and_records_the_denial(tenant, setup, reason):
    GoLiveStateFactory(
        tenant=tenant,
        enabled=setup.get("go_live", True),
        kill_switch_engaged=setup.get("kill", False),
    )
    policy = setup.get("policy", {})
    if policy is not None:
        RiskPolicyFactory(tenant=tenant, **{"enabled": True, **policy})

    check = _reserve(tenant)

    assert (check.ok, check.reason) == (False, reason)
    denial = RiskReservation.objects.get(pk=check.reservation_id)
    assert (denial.outcome, denial.denial_reason) == ("DENIED", reason)


def test_reservations_stop_at_the_exposure_cap_and_settle_releases_exposure(tenant, live):
    RiskPolicyFactory(tenant=tenant, max_daily_exposure=Decimal("100"))
    first, second = _reserve(tenant, "60"), _reserve(tenant, "60")
    assert (first.ok, second.reason) == (True, "exposure_cap")

    levers.risk_settle(
        tenant=tenant,
        reservation_id=first.reservation_id,
        realised_loss=Decimal("3"),
        actor=Actor.system("test"),
        now=NOW,
    )
    third = _reserve(tenant, "60")

    assert third.ok
    ledger = levers.risk_ledger_for_day(tenant=tenant, day=NOW.date())
    assert ledger["by_outcome"] == {"RESERVED": 1, "SETTLED": 1, "DENIED": 1}
    assert ledger["denials_by_reason"] == {"exposure_cap": 1}
    assert ledger["denied_ids"] == {"exposure_cap": [second.reservation_id]}
    assert ledger["engines"] == [
        {"engine": "WHOLESALE", "open_exposure": "60.00", "realised_loss": "3.00", "actions": 2}
    ]


def test_the_loss_cap_stops_reservations_once_realised_losses_reach_it(tenant, live):
    RiskPolicyFactory(tenant=tenant, max_daily_loss=Decimal("50"))
    first = _reserve(tenant)
    levers.risk_settle(
        tenant=tenant,
        reservation_id=first.reservation_id,
        realised_loss=Decimal("50"),
        actor=Actor.system("test"),
        now=NOW,
    )

    assert _reserve(tenant).reason == "loss_cap"


def test_caps_reset_on_a_new_utc_day(tenant, live):
    RiskPolicyFactory(tenant=tenant, max_daily_actions=1)
    assert _reserve(tenant).ok
    assert _reserve(tenant).reason == "action_cap"

    assert _reserve(tenant, now=NOW + dt.timedelta(days=1)).ok


def test_settling_twice_is_a_conflict(tenant, live):
    RiskPolicyFactory(tenant=tenant)
    check = _reserve(tenant)
    settle = {
        "tenant": tenant,
        "reservation_id": check.reservation_id,
        "realised_loss": 0,
        "actor": Actor.system("test"),
    }
    levers.risk_settle(**settle)

    with pytest.raises(TransitionConflict):
        levers.risk_settle(**settle)


def test_risk_reserve_or_raise_raises_with_the_reason(tenant):
    with pytest.raises(levers.RiskDenied) as raised:
        levers.risk_reserve_or_raise(
            tenant=tenant, engine="WHOLESALE", exposure=1, actor=Actor.system("t")
        )
    assert raised.value.extra["reason"] == "go_live_disabled"


def test_throttle_disables_and_writes_the_ledger(tenant):
    RiskPolicyFactory(tenant=tenant, enabled=True)

    policy = levers.risk_policy_throttle(
        tenant=tenant, engine="WHOLESALE", actor=Actor.system("tripwire"), reason="drop 21%"
    )

    assert policy.enabled is False and policy.disabled_reason == "drop 21%"
    entry = LedgerEntry.objects.get(tenant=tenant, kind="risk_policy.throttled")
    assert entry.payload["was_enabled"] is True


def test_a_machine_enabling_a_risk_policy_only_requests_it(tenant, token_actor):
    outcome = levers.risk_policy_upsert(
        tenant=tenant, engine="X", actor=token_actor, reason="ready", enabled=True
    )

    assert outcome.pending and outcome.change.loosened == ["enabled"]
    assert not RiskPolicy.objects.exists()


def test_a_machine_may_tighten_a_risk_policy_at_once(tenant, token_actor):
    RiskPolicyFactory(tenant=tenant, engine="X", enabled=True, max_daily_exposure=Decimal(100))

    outcome = levers.risk_policy_upsert(
        tenant=tenant, engine="X", actor=token_actor, max_daily_exposure=Decimal(50)
    )

    assert outcome.applied.max_daily_exposure == Decimal(50)
    assert outcome.applied.changed_by == token_actor.label


# API ----------------------------------------------------------------------------------------


def test_reserve_and_settle_over_the_api(api, tenant, live):
    RiskPolicyFactory(tenant=tenant, max_daily_exposure=Decimal("100"))

    reserved = api.post(
        "/api/governance/risk/reserve", {"engine": "WHOLESALE", "exposure": "40"}, format="json"
    )
    rid = reserved.json()["reservation_id"]
    settled = api.post(
        "/api/governance/risk/settle",
        {"reservation_id": rid, "realised_loss": "2.5"},
        format="json",
    )
    ledger = api.get("/api/governance/risk/ledger/today")

    assert reserved.json() == {"ok": True, "reason": None, "reservation_id": rid}
    assert settled.status_code == 200 and settled.json()["outcome"] == "SETTLED"
    assert ledger.json()["by_outcome"]["SETTLED"] == 1


def test_settling_another_tenants_reservation_is_404(api, other_tenant):
    other = RiskReservation.objects.create(
        tenant=other_tenant, engine="X", day=NOW.date(), exposure=1, outcome="RESERVED"
    )

    response = api.post("/api/governance/risk/settle", {"reservation_id": other.pk}, format="json")

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        pytest.param(
            {"engine": "W", "exposure": "1", "customer": "bob"}, {"customer"}, id="unknown"
        ),
        pytest.param({"engine": "W", "exposure": "-1"}, {"exposure"}, id="negative-exposure"),
        pytest.param({"exposure": "1", "actions": 0}, {"engine", "actions"}, id="missing-engine"),
    ],
)
def test_reserve_rejects_bad_input_field_by_field(api, body, errors):
    response = api.post("/api/governance/risk/reserve", body, format="json")

    assert response.status_code == 400
    assert set(response.json()) == errors
    assert not RiskReservation.objects.exists()


def test_go_live_over_the_api_needs_a_reviewer(api, reviewer_api):
    refused = api.post("/api/governance/go-live/enable", {"reason": "go"}, format="json")
    accepted = reviewer_api.post("/api/governance/go-live/enable", {"reason": "go"}, format="json")
    state = api.get("/api/governance/go-live/state")

    assert refused.status_code == 403
    assert accepted.status_code == 200
    assert state.json()["enabled"] is True and state.json()["changed_by"] == "user:rita"


# recommendation charter (Heimdall) ----------------------------------------------------------


def test_eligibility_names_every_unmet_condition(tenant):
    CharterPolicyFactory(
        tenant=tenant, min_confidence_prod=0.8, min_sandbox_trials=3, min_success_rate=0.9
    )
    for success in (True, False):
        levers.sandbox_trial_record(tenant=tenant, domain="WHOLESALE", success=success)

    report = levers.heimdall_eligibility(tenant=tenant, domain="WHOLESALE", confidence=0.5)

    assert not report["eligible"]
    assert [u["condition"] for u in report["unmet"]] == [
        "confidence",
        "sandbox_trials",
        "success_rate",
    ]
    with pytest.raises(levers.NotProdEligible) as raised:
        levers.heimdall_require_prod_eligible(tenant=tenant, domain="WHOLESALE", confidence=0.5)
    assert raised.value.extra["condition"] == "confidence"


def test_a_domain_that_meets_its_charter_is_eligible(tenant):
    CharterPolicyFactory(tenant=tenant, min_sandbox_trials=3, min_success_rate=0.6)
    for success in (True, True, False):
        levers.sandbox_trial_record(tenant=tenant, domain="WHOLESALE", success=success)

    report = levers.heimdall_require_prod_eligible(
        tenant=tenant, domain="WHOLESALE", confidence=0.85
    )

    assert report["eligible"] and report["success_rate"] == pytest.approx(2 / 3)


def test_a_domain_without_charter_is_not_eligible(tenant):
    report = levers.heimdall_eligibility(tenant=tenant, domain="NEW", confidence=0.99)

    assert report["unmet"][0]["condition"] == "no_charter"


def test_trials_eligibility_and_scorecard_over_the_api(api, tenant):
    arrange_setting(
        tenant=tenant,
        setting="charter_policy",
        target="BUYER_MATCH",
        min_confidence_prod=0.7,
        min_sandbox_trials=2,
        min_success_rate=0.5,
    )
    for success in (True, False, True):
        assert (
            api.post(
                "/api/governance/heimdall/trials",
                {"domain": "BUYER_MATCH", "success": success},
                format="json",
            ).status_code
            == 201
        )

    eligible = api.get(
        "/api/governance/heimdall/eligibility", {"domain": "BUYER_MATCH", "confidence": 0.75}
    )
    scorecard = api.get("/api/governance/heimdall/scorecard/today")

    assert eligible.json()["eligible"] is True
    row = scorecard.json()["domains"][0]
    assert (row["domain"], row["trials_today"], row["successes_today"]) == ("BUYER_MATCH", 3, 2)
    assert row["prod_eligible_at_min_confidence"] is True


def test_a_machine_lowering_the_charter_only_requests_it(api, tenant):
    response = api.post(
        "/api/governance/heimdall/policies",
        {"domain": "X", "min_sandbox_trials": 0, "reason": "fewer trials"},
        format="json",
    )

    assert response.status_code == 202, response.json()
    assert response.json()["loosened"] == ["min_sandbox_trials"]
    assert not CharterPolicy.objects.filter(tenant=tenant).exists()
