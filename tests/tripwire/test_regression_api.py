import pytest

from governance.models import RiskPolicy, SettingsChange
from tests.factories.levers import RegressionPolicyFactory, RiskPolicyFactory, kpi_events
from tripwire.models import KPIEvent, RegressionState

pytestmark = pytest.mark.django_db

BATCH = "/api/governance/regression/kpi/batch"


def _events(n, **extra):
    return [{"domain": "WHOLESALE", "metric": "contract_rate", "success": True, **extra}] * n


def test_a_batch_with_one_bad_event_stores_nothing_and_names_index_and_field(api):
    events = _events(5)
    events[3] = {"domain": "WHOLESALE", "metric": "contract_rate", "success": "yes"}

    response = api.post(BATCH, {"events": events}, format="json")

    assert response.status_code == 400
    assert response.json() == {"events": {"3": {"success": ["must be a boolean"]}}}
    assert KPIEvent.objects.count() == 0


@pytest.mark.parametrize(
    ("event", "errors"),
    [
        pytest.param(
            {"domain": "W", "metric": "m", "success": True, "user_email": "x"},
            {"user_email": ["unknown field"]},
            id="unknown-field",
        ),
        pytest.param(
            {"domain": "W", "metric": "m"},
            {"success": ["give exactly one of success or value"]},
            id="neither-success-nor-value",
        ),
        pytest.param(
            {"domain": "W", "metric": "m", "success": True, "value": 1.0},
            {"success": ["give exactly one of success or value"]},
            id="both-success-and-value",
        ),
        pytest.param(
            {"metric": "m", "value": 1}, {"domain": ["this field is required"]}, id="missing"
        ),
        pytest.param(
            {"domain": "W", "metric": "m", "value": "NaN"},
            {"value": ["must be a number"]},
            id="value-not-a-number",
        ),
    ],
)
def test_single_event_errors_are_field_by_field(api, event, errors):
    response = api.post("/api/governance/regression/kpi", event, format="json")

    assert response.status_code == 400
    assert response.json() == errors
    assert KPIEvent.objects.count() == 0


def test_a_repeated_event_id_is_stored_once(api):
    first = api.post(BATCH, {"events": _events(1, event_id="e-1")}, format="json")
    again = api.post(
        BATCH, {"events": _events(1, event_id="e-1") + _events(1, event_id="e-2")}, format="json"
    )

    assert first.json() == {"received": 1, "stored": 1, "duplicates": 0}
    assert again.json() == {"received": 2, "stored": 1, "duplicates": 1}
    assert KPIEvent.objects.count() == 2


def test_event_ids_are_scoped_per_tenant(api, other_tenant):
    KPIEvent.objects.create(
        tenant=other_tenant,
        domain="WHOLESALE",
        metric="contract_rate",
        success=True,
        event_id="e-1",
    )

    response = api.post(BATCH, {"events": _events(1, event_id="e-1")}, format="json")

    assert response.json()["stored"] == 1


def test_a_batch_over_the_limit_is_refused(api):
    response = api.post(BATCH, {"events": _events(10_001)}, format="json")

    assert response.status_code == 400
    assert "events" in response.json()
    assert KPIEvent.objects.count() == 0


def test_batch_rejects_unknown_top_level_fields(api):
    response = api.post(BATCH, {"events": _events(1), "note": "x"}, format="json")

    assert response.status_code == 400 and response.json() == {"note": ["unknown field"]}


def test_evaluate_accepts_a_form_encoded_body(api, tenant):
    RegressionPolicyFactory(tenant=tenant, window_events=2, baseline_events=2)
    kpi_events(tenant, successes=2, failures=2)

    response = api.post(
        "/api/governance/regression/evaluate",
        "domain=WHOLESALE&metric=contract_rate&actor=test_user",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["triggered"], body["drop"]) == ("triggered", True, 1.0)
    assert body["action_taken"].startswith("THROTTLE")


def test_evaluating_another_tenants_policy_is_404(api, other_tenant):
    RegressionPolicyFactory(tenant=other_tenant)

    response = api.post(
        "/api/governance/regression/evaluate",
        {"domain": "WHOLESALE", "metric": "contract_rate"},
        format="json",
    )

    assert response.status_code == 404


def test_upsert_creates_then_changes_a_policy_with_tiers(api):
    created = api.post(
        "/api/governance/regression/policies/upsert",
        {
            "domain": "WHOLESALE",
            "metric": "offer_accept_rate",
            "max_drop_fraction": 0.2,
            "tiers": [{"min_drop": 0.4, "action": "KILL_SWITCH"}],
            "consecutive_breaches": 2,
        },
        format="json",
    )
    changed = api.post(
        "/api/governance/regression/policies/upsert",
        {"domain": "WHOLESALE", "metric": "offer_accept_rate", "enabled": True},
        format="json",
    )

    assert created.status_code == 200, created.json()
    assert changed.json()["enabled"] is True
    assert changed.json()["tiers"] == [{"min_drop": 0.4, "action": "KILL_SWITCH"}]
    assert changed.json()["consecutive_breaches"] == 2


def test_upsert_rejects_a_tier_below_the_base_threshold(api):
    response = api.post(
        "/api/governance/regression/policies/upsert",
        {
            "domain": "W",
            "metric": "m",
            "max_drop_fraction": 0.3,
            "tiers": [{"min_drop": 0.2, "action": "KILL_SWITCH"}],
        },
        format="json",
    )

    assert response.status_code == 400 and "tiers" in response.json()


def test_a_machine_cannot_acknowledge_but_a_reviewer_can(api, reviewer_api, tenant):
    policy = RegressionPolicyFactory(tenant=tenant, window_events=2, baseline_events=2)
    RiskPolicyFactory(tenant=tenant, engine="WHOLESALE")
    kpi_events(tenant, successes=2, failures=2)
    api.post(
        "/api/governance/regression/evaluate",
        {"domain": "WHOLESALE", "metric": "contract_rate"},
        format="json",
    )
    body = {
        "domain": "WHOLESALE",
        "metric": "contract_rate",
        "reason": "model retrained",
        "reenable_risk_policy": True,
    }

    refused = api.post("/api/governance/regression/acknowledge", body, format="json")
    accepted = reviewer_api.post("/api/governance/regression/acknowledge", body, format="json")
    again = reviewer_api.post("/api/governance/regression/acknowledge", body, format="json")

    assert refused.status_code == 403
    assert accepted.status_code == 200 and accepted.json()["acknowledged_by"] == "rita"
    assert again.status_code == 409 and again.json()["current_state"] == "ok"
    # Re-enabling loosens the risk policy: it waits for a second reviewer.
    assert RiskPolicy.objects.get(tenant=tenant, engine="WHOLESALE").enabled is False
    assert SettingsChange.objects.get(tenant=tenant, setting="risk_policy").state == "PENDING"
    assert not RegressionState.objects.get(policy=policy).triggered
