import json

import pytest

from governance.models import Checkpoint, CheckpointState, LedgerEntry, RiskPolicy, SettingsChange
from tests.factories.levers import RegressionPolicyFactory, RiskPolicyFactory, kpi_events
from tripwire.models import KPIEvent, RegressionPolicy, RegressionState

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


# Finding 4 of issue 13: a machine could disarm the tripwire that guards it. --------------------

UPSERT = "/api/governance/regression/policies/upsert"


@pytest.mark.parametrize(
    "loosening",
    [
        pytest.param({"enabled": False}, id="disable"),
        pytest.param({"max_drop_fraction": 1.0, "action": "NOTIFY"}, id="max-drop-1-and-notify"),
        pytest.param({"action": "NOTIFY"}, id="weaker-action"),
        pytest.param({"consecutive_breaches": 100}, id="more-breaches-before-firing"),
        pytest.param({"significance_level": 0.0001}, id="a-significance-bar"),
    ],
)
def test_a_machine_loosening_its_tripwire_only_requests_it(api, tenant, loosening):
    policy = RegressionPolicyFactory(tenant=tenant, enabled=True, action="KILL_SWITCH")

    response = api.post(
        UPSERT,
        {"domain": "WHOLESALE", "metric": "contract_rate", **loosening, "reason": "noisy"},
        format="json",
    )

    assert response.status_code == 202, response.json()
    assert response.json()["state"] == "PENDING"
    assert set(response.json()["loosened"]) == set(loosening)
    unchanged = RegressionPolicy.objects.get(pk=policy.pk)
    assert (unchanged.enabled, unchanged.action, unchanged.max_drop_fraction) == (
        True,
        "KILL_SWITCH",
        0.2,
    )
    checkpoint = Checkpoint.objects.get(tenant=tenant, checkpoint_type="settings_change")
    assert checkpoint.state == CheckpointState.PENDING and checkpoint.blocking


def test_a_loosening_without_a_reason_is_refused_and_nothing_changes(api, tenant):
    RegressionPolicyFactory(tenant=tenant, enabled=True)

    response = api.post(
        UPSERT, {"domain": "WHOLESALE", "metric": "contract_rate", "enabled": False}, format="json"
    )

    assert response.status_code == 400 and "reason" in response.json()
    assert RegressionPolicy.objects.get(tenant=tenant).enabled is True
    assert not SettingsChange.objects.exists()


@pytest.mark.parametrize(
    "tightening",
    [
        pytest.param({"enabled": True}, id="enable"),
        pytest.param({"max_drop_fraction": 0.1}, id="lower-max-drop"),
        pytest.param({"action": "KILL_SWITCH"}, id="stronger-action"),
        pytest.param(
            {"tiers": [{"min_drop": 0.5, "action": "KILL_SWITCH"}]}, id="add-an-escalation"
        ),
    ],
)
def test_a_machine_tightening_its_tripwire_applies_at_once(api, tenant, tightening):
    RegressionPolicyFactory(tenant=tenant, enabled=False, action="THROTTLE")

    response = api.post(
        UPSERT, {"domain": "WHOLESALE", "metric": "contract_rate", **tightening}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert {key: response.json()[key] for key in tightening} == tightening
    entry = LedgerEntry.objects.get(tenant=tenant, kind="settings.changed")
    assert entry.actor == "token:machine"


def test_a_client_supplied_changed_by_is_never_written(api, tenant):
    RegressionPolicyFactory(tenant=tenant, enabled=False)

    applied = api.post(
        UPSERT,
        {
            "domain": "WHOLESALE",
            "metric": "contract_rate",
            "enabled": True,
            "changed_by": "user:reviewer",
        },
        format="json",
    )
    requested = api.post(
        UPSERT,
        {
            "domain": "WHOLESALE",
            "metric": "contract_rate",
            "enabled": False,
            "reason": "noisy",
            "changed_by": "user:reviewer",
        },
        format="json",
    )

    assert (applied.status_code, requested.status_code) == (200, 202)
    assert applied.json()["changed_by"] == "token:machine"
    entries = LedgerEntry.objects.filter(tenant=tenant).exclude(kind="token.created")
    assert entries.exists()
    assert all("user:reviewer" not in json.dumps(e.payload) for e in entries)
    assert {e.actor for e in entries} == {"token:machine"}
    assert SettingsChange.objects.get().requested_by_label == "token:machine"


def test_a_viewer_cannot_change_a_tripwire_even_by_asking(api_as, viewer, tenant):
    RegressionPolicyFactory(tenant=tenant, enabled=False)

    response = api_as(viewer).post(
        UPSERT,
        {"domain": "WHOLESALE", "metric": "contract_rate", "enabled": True},
        format="json",
    )

    assert response.status_code == 403
    assert RegressionPolicy.objects.get(tenant=tenant).enabled is False
