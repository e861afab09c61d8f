"""Change requests of safety settings (issue 13, item 5): a loosening waits for a second
reviewer, who approves or rejects it over the API; tightening applies at once."""

from __future__ import annotations

import pytest

from governance.models import (
    Checkpoint,
    CheckpointPriority,
    CheckpointState,
    ConfigFamily,
    LedgerEntry,
    SettingsChange,
)
from governance.services import settings as services
from governance.services.ledger import Actor, ledger_anchor_head, ledger_verify
from tests.factories.levers import RegressionPolicyFactory

pytestmark = pytest.mark.django_db

URL = "/api/governance/settings-changes/"


@pytest.fixture
def policy(tenant):
    return RegressionPolicyFactory(
        tenant=tenant, enabled=True, max_drop_fraction=0.2, action="KILL_SWITCH"
    )


@pytest.fixture
def requested(api, policy):
    """A machine asks to loosen the tripwire that guards it."""
    response = api.post(
        "/api/governance/regression/policies/upsert",
        {
            "domain": policy.domain,
            "metric": policy.metric,
            "max_drop_fraction": 0.5,
            "reason": "too many false alarms",
        },
        format="json",
    )
    assert response.status_code == 202, response.json()
    return SettingsChange.objects.get(pk=response.json()["id"])


def test_a_loosening_opens_a_blocking_high_checkpoint_about_the_request(requested, tenant):
    checkpoint = Checkpoint.objects.get(tenant=tenant, checkpoint_type="settings_change")

    assert (checkpoint.subject_id, checkpoint.state) == (str(requested.pk), CheckpointState.PENDING)
    assert checkpoint.blocking and checkpoint.priority == CheckpointPriority.HIGH
    assert requested.before == {"max_drop_fraction": 0.2}
    assert requested.after == {"max_drop_fraction": 0.5}


def test_a_second_reviewer_approves_and_it_applies_with_one_ledger_entry(
    requested, policy, tenant, api_as, second_reviewer
):
    response = api_as(second_reviewer).post(
        f"{URL}{requested.pk}/approve/", {"reason": "the KPI is noisy"}
    )

    assert response.status_code == 200, response.json()
    assert response.json()["state"] == "APPLIED" and response.json()["decided_by"] == "sam"
    policy.refresh_from_db()
    assert policy.max_drop_fraction == 0.5 and policy.changed_by == "user:sam"
    approved = LedgerEntry.objects.filter(tenant=tenant, kind="settings.change_approved")
    assert approved.count() == 1 and approved.get().actor == "user:sam"
    assert approved.get().payload["after"] == {"max_drop_fraction": 0.5}
    checkpoint = Checkpoint.objects.get(tenant=tenant, checkpoint_type="settings_change")
    assert checkpoint.state == CheckpointState.APPROVED
    ledger_anchor_head(tenant_id=tenant.pk)
    assert ledger_verify(tenant_id=tenant.pk).ok


def test_the_requester_cannot_approve_their_own_request(
    policy, tenant, api_as, reviewer, second_reviewer
):
    asked = api_as(reviewer).post(
        "/api/governance/regression/policies/upsert",
        {"domain": policy.domain, "metric": policy.metric, "enabled": False, "reason": "noisy"},
        format="json",
    )

    response = api_as(reviewer).post(f"{URL}{asked.json()['id']}/approve/", {"reason": "mine"})

    assert asked.status_code == 202
    assert response.status_code == 403
    policy.refresh_from_db()
    assert policy.enabled is True
    assert SettingsChange.objects.get().state == "PENDING"


def test_a_machine_cannot_approve_a_request(requested, api):
    response = api.post(f"{URL}{requested.pk}/approve/", {"reason": "looks fine to me"})

    assert response.status_code == 403
    assert SettingsChange.objects.get().state == "PENDING"


def test_a_request_whose_setting_moved_on_is_refused_as_stale(
    requested, policy, api, api_as, second_reviewer
):
    # The machine tightens the same field after asking: the request's "before" is no more.
    tightened = api.post(
        "/api/governance/regression/policies/upsert",
        {"domain": policy.domain, "metric": policy.metric, "max_drop_fraction": 0.1},
        format="json",
    )

    response = api_as(second_reviewer).post(f"{URL}{requested.pk}/approve/", {"reason": "ok"})

    assert tightened.status_code == 200
    assert response.status_code == 409
    assert response.json()["code"] == "stale_setting"
    policy.refresh_from_db()
    assert policy.max_drop_fraction == 0.1


def test_a_rejected_request_leaves_the_setting_and_rejects_its_checkpoint(
    requested, policy, tenant, api_as, second_reviewer
):
    response = api_as(second_reviewer).post(f"{URL}{requested.pk}/reject/", {"reason": "no"})
    again = api_as(second_reviewer).post(f"{URL}{requested.pk}/approve/", {"reason": "yes"})

    assert response.status_code == 200 and response.json()["state"] == "REJECTED"
    assert again.status_code == 409 and again.json()["current_state"] == "REJECTED"
    policy.refresh_from_db()
    assert policy.max_drop_fraction == 0.2
    checkpoint = Checkpoint.objects.get(tenant=tenant, checkpoint_type="settings_change")
    assert checkpoint.state == CheckpointState.REJECTED


def test_deciding_needs_a_reason(requested, api_as, second_reviewer):
    response = api_as(second_reviewer).post(f"{URL}{requested.pk}/approve/", {"reason": " "})

    assert response.status_code == 400
    assert SettingsChange.objects.get().state == "PENDING"


def test_requests_are_listed_filtered_and_read_per_tenant(
    requested, api, other_tenant, system_actor
):
    ConfigFamily.objects.create(tenant=other_tenant, name="scoring", approvals_required=2)
    theirs = services.config_family_update(
        tenant=other_tenant,
        name="scoring",
        actor=system_actor,
        reason="one is enough",
        approvals_required=1,
    ).change

    listed = api.get(URL, {"state": "PENDING", "setting": "regression_policy"})
    none = api.get(URL, {"state": "APPLIED"})
    detail = api.get(f"{URL}{requested.pk}/")
    foreign = api.get(f"{URL}{theirs.pk}/")

    assert [row["id"] for row in listed.json()["results"]] == [requested.pk]
    assert none.json()["results"] == []
    assert detail.json()["loosened"] == ["max_drop_fraction"]
    assert foreign.status_code == 404


def test_another_tenants_request_cannot_be_decided(
    other_tenant, api_as, second_reviewer, system_actor
):
    ConfigFamily.objects.create(tenant=other_tenant, name="scoring", approvals_required=2)
    theirs = services.config_family_update(
        tenant=other_tenant,
        name="scoring",
        actor=system_actor,
        reason="one is enough",
        approvals_required=1,
    ).change

    response = api_as(second_reviewer).post(f"{URL}{theirs.pk}/approve/", {"reason": "ok"})

    assert response.status_code == 404
    assert ConfigFamily.objects.get(tenant=other_tenant).approvals_required == 2


def test_the_change_requests_are_in_the_openapi_schema(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()

    assert "/api/governance/settings-changes/" in schema["paths"]
    assert "/api/governance/settings-changes/{id}/approve/" in schema["paths"]
    assert "/api/governance/settings-changes/{id}/reject/" in schema["paths"]
    upsert = schema["paths"]["/api/governance/regression/policies/upsert"]["post"]
    assert {"200", "202"} <= set(upsert["responses"])


# --- services: the governance app's own settings --------------------------------------------


def test_lowering_approvals_required_is_a_request(tenant):
    ConfigFamily.objects.create(tenant=tenant, name="scoring", approvals_required=2)

    outcome = services.config_family_update(
        tenant=tenant, name="scoring", actor=Actor.system("t"), reason="fewer", approvals_required=1
    )

    assert outcome.pending and outcome.loosened == ["approvals_required"]
    assert ConfigFamily.objects.get(tenant=tenant).approvals_required == 2


def test_raising_approvals_required_applies_at_once_with_one_entry(tenant):
    family = ConfigFamily.objects.create(tenant=tenant, name="scoring")

    outcome = services.config_family_update(
        tenant=tenant, name="scoring", actor=Actor.system("t"), approvals_required=2
    )

    assert outcome.applied.pk == family.pk and outcome.applied.approvals_required == 2
    entry = LedgerEntry.objects.get(tenant=tenant, kind="settings.changed")
    assert entry.payload["before"] == {"approvals_required": 1}
    assert entry.payload["tightened"] is True


def test_a_loosening_without_a_reason_is_refused_and_nothing_is_stored(tenant):
    from governance.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        services.checkpoint_config_update(
            tenant=tenant, actor=Actor.system("t"), max_pending=100_000
        )

    assert not SettingsChange.objects.exists()
    assert not LedgerEntry.objects.filter(tenant=tenant).exists()


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"priority_overrides": "{}"}, id="overrides-not-an-object"),
        pytest.param({"blocking_types": "drift_alert"}, id="types-not-a-list"),
        pytest.param({"auto_approve_types": [1]}, id="types-not-names"),
    ],
)
def test_a_malformed_checkpoint_config_is_a_field_error_not_a_crash(tenant, values):
    from governance.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as caught:
        services.checkpoint_config_update(tenant=tenant, actor=Actor.system("t"), **values)

    assert set(caught.value.errors) == set(values)
