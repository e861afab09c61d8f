"""The learning proofs API: the same error rules as everywhere (400 field by field and nothing
stored, unknown fields refused, 404 for another tenant's ids, 409 with the current state,
human acts for reviewers only)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from governance.models import LedgerEntry
from governance.services.ledger import Actor
from governance.services.tenancy import api_token_create
from learning.models.proofs import Incident, LearnedPolicy, PolicyState, RegretEvent

BASE = "/api/learning"


def _incident(api, **overrides):
    body = {"pattern": "checkout-timeout", "signature": "sig-a", "severity": 7, **overrides}
    response = api.post(f"{BASE}/incidents/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def _policy(api, incident_id, **overrides):
    body = {"incident": incident_id, "name": "guard checkout", **overrides}
    response = api.post(f"{BASE}/policies/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.fixture
def active_policy(api, reviewer_api):
    incident = _incident(api)
    policy = _policy(api, incident["id"])
    response = reviewer_api.post(
        f"{BASE}/policies/{policy['id']}/activate/", {"reason": "shadow clean"}, format="json"
    )
    assert response.status_code == 200
    return incident, response.json()


@pytest.fixture
def other_api(other_tenant):
    _, raw = api_token_create(tenant=other_tenant, name="other", actor=Actor.system("test"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.mark.django_db
def test_a_machine_records_an_incident_under_its_pattern(api, tenant):
    body = _incident(api, title="Checkout timed out", event_id="inc-1")
    assert body["pattern"] == "checkout-timeout" and body["severity"] == 7
    again = _incident(api, event_id="inc-1")
    assert again["id"] == body["id"]
    assert Incident.objects.filter(tenant=tenant).count() == 1
    entry = LedgerEntry.objects.get(tenant=tenant, kind="learning.incident_recorded")
    assert entry.actor == "token:machine"


@pytest.mark.django_db
def test_a_bad_incident_is_refused_field_by_field_and_nothing_is_stored(api, tenant):
    response = api.post(
        f"{BASE}/incidents/",
        {"pattern": "bad key!", "signature": "s", "severity": 11, "user_email": "a@b.c"},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"user_email"}
    response = api.post(
        f"{BASE}/incidents/",
        {"pattern": "bad key!", "signature": "s", "severity": 11},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"pattern", "severity"}
    assert not Incident.objects.exists()


@pytest.mark.django_db
def test_a_policy_is_born_in_shadow_and_only_a_reviewer_activates_it(api, reviewer_api):
    incident = _incident(api)
    policy = _policy(api, incident["id"], decay_rate=0.2)
    assert (policy["state"], policy["decay_rate"], policy["auto_demote_score"]) == (
        "SHADOW",
        0.2,
        10.0,
    )
    assert (
        api.post(f"{BASE}/policies/{policy['id']}/activate/", {}, format="json").status_code == 403
    )
    response = reviewer_api.post(
        f"{BASE}/policies/{policy['id']}/activate/", {"reason": "clean shadow run"}, format="json"
    )
    assert response.status_code == 200 and response.json()["state"] == "ACTIVE"


@pytest.mark.django_db
def test_a_policy_cannot_be_born_from_another_tenants_incident(api, other_api):
    foreign = _incident(other_api)
    response = api.post(
        f"{BASE}/policies/", {"incident": foreign["id"], "name": "x"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"incident": ["no such incident"]}


@pytest.mark.django_db
def test_another_tenants_policy_is_not_found(api, other_api):
    foreign = _policy(other_api, _incident(other_api)["id"])
    assert api.get(f"{BASE}/policies/{foreign['id']}/").status_code == 404
    response = api.post(
        f"{BASE}/policies/{foreign['id']}/retire/", {"reason": "not mine"}, format="json"
    )
    assert response.status_code == 404
    assert LearnedPolicy.objects.get(pk=foreign["id"]).state == PolicyState.SHADOW


@pytest.mark.django_db
def test_regret_through_the_api_demotes_the_policy_and_graduation_follows(
    api, reviewer_api, active_policy
):
    incident, policy = active_policy
    prevention = api.post(
        f"{BASE}/preventions/",
        {"policy": policy["id"], "outcome": "PREVENTED", "signature_match_confidence": 0.91},
        format="json",
    )
    assert prevention.status_code == 201
    assert prevention.json()["match_band"] == "STRONG"
    responses = [
        api.post(
            f"{BASE}/regret-events/",
            {
                "policy": policy["id"],
                "regret_type": "false_positive",
                "severity": 4,
                "impact_duration": "00:20:00",
                "affected_calls": 3,
            },
            format="json",
        )
        for _ in range(3)
    ]
    assert [r.status_code for r in responses] == [201, 201, 201]
    last = responses[-1].json()
    assert (last["policy_state"], last["was_auto_rolled_back"]) == ("DEMOTED", True)

    rollback = api.get(f"{BASE}/policies/{policy['id']}/rollback-timeline/")
    assert rollback.status_code == 200 and rollback.json()["type"] == "rollback"

    timeline = api.get(f"{BASE}/incidents/{incident['id']}/timeline/").json()
    assert {e["type"] for e in timeline["timeline"]} == {
        "incident_created",
        "policy_born",
        "prevention",
        "regret",
        "rollback",
    }
    assert timeline["narrative"].endswith("The system learned, protected and corrected itself.")

    assert api.post(f"{BASE}/incidents/{incident['id']}/console-proof/").status_code == 403
    proof = reviewer_api.post(f"{BASE}/incidents/{incident['id']}/console-proof/")
    assert proof.status_code == 201 and proof.json()["recorded_by"] == "rita"

    dashboard = api.get(f"{BASE}/graduation/").json()
    assert dashboard["is_graduated"] and dashboard["status"] == "LOOP-PROVEN"
    stats = api.get(f"{BASE}/preventions/stats/").json()
    assert stats["has_proven_prevention"] and stats["prevention_rate"] == 1.0
    assert stats["top_preventing_patterns"] == [{"pattern": "checkout-timeout", "preventions": 1}]
    regret = api.get(f"{BASE}/regret-events/stats/").json()
    assert regret["has_proven_rollback"] and regret["total_auto_demotions"] == 1


@pytest.mark.django_db
def test_reinstate_is_a_reviewer_act_and_illegal_from_active(api, reviewer_api, active_policy):
    _, policy = active_policy
    url = f"{BASE}/policies/{policy['id']}/reinstate/"
    response = reviewer_api.post(url, {"reason": "looks fine"}, format="json")
    assert response.status_code == 409
    assert response.json()["current_state"] == "ACTIVE"
    reviewer_api.post(
        f"{BASE}/policies/{policy['id']}/demote/", {"reason": "complaints"}, format="json"
    )
    assert api.post(url, {"reason": "please"}, format="json").status_code == 403
    assert reviewer_api.post(url, {}, format="json").status_code == 400
    response = reviewer_api.post(url, {"reason": "fixed upstream"}, format="json")
    assert response.status_code == 200
    assert (response.json()["state"], response.json()["regret_count"]) == ("ACTIVE", 0)


@pytest.mark.django_db
def test_a_machine_may_retire_but_not_twice(api, active_policy):
    _, policy = active_policy
    url = f"{BASE}/policies/{policy['id']}/retire/"
    assert api.post(url, {"reason": "pattern is gone"}, format="json").status_code == 200
    response = api.post(url, {"reason": "again"}, format="json")
    assert response.status_code == 409 and response.json()["current_state"] == "RETIRED"


@pytest.mark.django_db
def test_a_reviewers_user_override_regret_records_who(reviewer_api, active_policy):
    _, policy = active_policy
    response = reviewer_api.post(
        f"{BASE}/regret-events/",
        {"policy": policy["id"], "regret_type": "user_override", "severity": 2},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["manual_override_by"] == "rita"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"signature_match_confidence": "NaN"}, "signature_match_confidence", id="nan"),
        pytest.param({"signature_match_confidence": 1.5}, "signature_match_confidence", id="gt-1"),
        pytest.param({"outcome": "MAYBE"}, "outcome", id="outcome"),
        pytest.param({"calls_evaluated": -1}, "calls_evaluated", id="negative-calls"),
        pytest.param({"policy": 2**70}, "policy", id="huge-id"),
        pytest.param({"outcome": "RECURRED"}, "blocked_incident", id="recurrence-without-incident"),
    ],
)
def test_a_bad_prevention_is_a_400_naming_the_field(api, active_policy, body, field):
    _, policy = active_policy
    payload = {
        "policy": policy["id"],
        "outcome": "PREVENTED",
        "signature_match_confidence": 0.9,
        **body,
    }
    response = api.post(f"{BASE}/preventions/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.django_db
def test_a_console_proof_needs_a_prevention_on_the_timeline(api, reviewer_api):
    incident = _incident(api)
    response = reviewer_api.post(f"{BASE}/incidents/{incident['id']}/console-proof/")
    assert response.status_code == 400 and "incident" in response.json()


@pytest.mark.django_db
def test_regret_for_an_unknown_policy_stores_nothing(api):
    response = api.post(
        f"{BASE}/regret-events/",
        {"policy": 999999, "regret_type": "perf", "severity": 3},
        format="json",
    )
    assert response.status_code == 400 and response.json() == {"policy": ["no such policy"]}
    assert not RegretEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        pytest.param(f"{BASE}/policies/99999999999999999999/", id="huge-policy-id"),
        pytest.param(f"{BASE}/incidents/99999999999999999999/timeline/", id="huge-incident-id"),
        pytest.param(f"{BASE}/incidents/?severity=99999999999999999999", id="huge-filter"),
        pytest.param(f"{BASE}/preventions/?policy=abc", id="bad-filter"),
        pytest.param(f"{BASE}/regret-events/?regret_type=nope", id="bad-choice"),
        pytest.param(f"{BASE}/policies/?state=LIMBO", id="bad-state"),
    ],
)
def test_odd_ids_and_filters_are_never_a_server_error(api, url):
    response = api.get(url)
    assert response.status_code in (200, 400, 404)
