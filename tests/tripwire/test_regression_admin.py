import pytest
from django.test import Client

from governance.models import RiskPolicy
from tests.factories.levers import RegressionPolicyFactory, RiskPolicyFactory, kpi_events
from tripwire.models import RegressionState
from tripwire.services.regression import regression_evaluate

pytestmark = pytest.mark.django_db


def test_the_acknowledge_button_re_arms_and_keeps_the_throttle_unless_ticked(reviewer, tenant):
    policy = RegressionPolicyFactory(tenant=tenant, window_events=2, baseline_events=2)
    RiskPolicyFactory(tenant=tenant, engine="WHOLESALE")
    now = kpi_events(tenant, successes=2, failures=2)
    regression_evaluate(policy=policy, now=now)
    client = Client()
    client.force_login(reviewer)

    page = client.get(f"/admin/tripwire/regressionpolicy/{policy.pk}/change/")
    response = client.post(
        f"/admin/tripwire/regressionpolicy/{policy.pk}/acknowledge/", {"reason": "seen it"}
    )

    assert b"Acknowledge" in page.content and b"triggered" in page.content
    assert response.status_code == 302
    assert not RegressionState.objects.get(policy=policy).triggered
    assert RiskPolicy.objects.get(tenant=tenant, engine="WHOLESALE").enabled is False


def test_the_admin_saves_policies_through_the_service(reviewer, tenant):
    policy = RegressionPolicyFactory(tenant=tenant, enabled=False)
    client = Client()
    client.force_login(reviewer)
    form = {
        "kind": "success",
        "enabled": "on",
        "window_events": 50,
        "baseline_events": 200,
        "window_days": "",
        "max_drop_fraction": 0.2,
        "action": "THROTTLE",
        "rollback_family": "",
        "significance_level": "",
        "significance_test": "t_test",
        "tiers": "[]",
        "consecutive_breaches": 1,
        "change_reason": "arm the tripwire",
    }

    response = client.post(f"/admin/tripwire/regressionpolicy/{policy.pk}/change/", form)

    assert response.status_code == 302, response.content[:2000]
    policy.refresh_from_db()
    assert policy.enabled and policy.changed_by == "user:rita"
