import pytest
from django.test import Client

from governance.models import GoLiveState, LedgerEntry, RiskPolicy
from tests.factories.levers import CharterPolicyFactory, GoLiveStateFactory, RiskPolicyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_for(reviewer):
    client = Client()
    client.force_login(reviewer)
    return client


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("/admin/governance/golivestate/", id="go-live"),
        pytest.param("/admin/governance/riskpolicy/", id="risk-policies"),
        pytest.param("/admin/governance/riskreservation/", id="reservation-ledger"),
        pytest.param("/admin/governance/charterpolicy/", id="charter"),
        pytest.param("/admin/tripwire/regressionpolicy/", id="regression-policies"),
    ],
)
def test_reviewers_see_the_lever_pages(admin_client_for, tenant, url):
    GoLiveStateFactory(tenant=tenant)
    RiskPolicyFactory(tenant=tenant)
    CharterPolicyFactory(tenant=tenant)

    response = admin_client_for.get(url)

    assert response.status_code == 200


def test_engage_and_release_buttons_take_a_reason_and_write_the_ledger(admin_client_for, tenant):
    state = GoLiveStateFactory(tenant=tenant, enabled=True)
    page = admin_client_for.get(f"/admin/governance/golivestate/{state.pk}/change/")
    assert b"Engage kill switch" in page.content

    engaged = admin_client_for.post(
        f"/admin/governance/golivestate/{state.pk}/engage/", {"reason": "incident drill"}
    )
    refused = admin_client_for.post(f"/admin/governance/golivestate/{state.pk}/release/", {})
    released = admin_client_for.post(
        f"/admin/governance/golivestate/{state.pk}/release/", {"reason": "drill over"}
    )

    assert engaged.status_code == 302 and released.status_code == 302
    assert refused.status_code == 200  # the form again: a reason is required
    state = GoLiveState.objects.get(pk=state.pk)
    assert not state.kill_switch_engaged and state.reason == "drill over"
    assert LedgerEntry.objects.filter(tenant=tenant, kind__startswith="go_live.kill").count() == 2


def test_a_viewer_cannot_press_the_buttons(viewer, tenant):
    state = GoLiveStateFactory(tenant=tenant, enabled=True)
    client = Client()
    client.force_login(viewer)

    response = client.post(f"/admin/governance/golivestate/{state.pk}/engage/", {"reason": "x"})

    assert response.status_code == 403
    assert not GoLiveState.objects.get(pk=state.pk).kill_switch_engaged


def test_re_enabling_a_throttled_risk_policy_in_the_admin_requests_a_second_reviewer(
    admin_client_for, tenant
):
    policy = RiskPolicyFactory(tenant=tenant, enabled=False)

    admin_client_for.post(
        "/admin/governance/riskpolicy/",
        {"action": "enable_selected", "_selected_action": [policy.pk]},
    )

    assert not RiskPolicy.objects.get(pk=policy.pk).enabled
    requested = LedgerEntry.objects.get(tenant=tenant, kind="settings.change_requested")
    assert requested.actor == "user:rita" and requested.payload["loosened"] == ["enabled"]
