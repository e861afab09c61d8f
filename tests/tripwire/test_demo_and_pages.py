import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from governance.control_room import collect_panels
from governance.models import GoLiveState
from tripwire.demo import DOMAIN, METRIC, seed
from tripwire.models import KPIEvent, RegressionPolicy, RegressionState

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)


def test_the_demo_leaves_a_tripwire_close_to_firing_and_is_idempotent(tenant, reviewer):
    seed(tenant=tenant, now=NOW)
    seed(tenant=tenant, now=NOW)

    policy = RegressionPolicy.objects.get(tenant=tenant, domain=DOMAIN, metric=METRIC)
    state = RegressionState.objects.get(policy=policy)
    assert KPIEvent.objects.filter(tenant=tenant).count() == 250
    assert not state.triggered
    assert 0.75 * policy.max_drop_fraction < state.drop < policy.max_drop_fraction
    assert GoLiveState.objects.get(tenant=tenant).enabled


def test_the_control_room_warns_about_the_tripwire_close_to_firing(tenant, reviewer):
    seed(tenant=tenant, now=NOW)

    panel = next(p for p in collect_panels(tenant=tenant) if p.key == "tripwires")

    row = next(r for r in panel.rows if r.label == f"{DOMAIN}.{METRIC}")
    assert row.tone == "warn"
    assert row.url.endswith("/kpi/")


def test_the_kpi_page_draws_the_windows_and_the_threshold(client, tenant, reviewer):
    seed(tenant=tenant, now=timezone.now())
    policy = RegressionPolicy.objects.get(tenant=tenant, domain=DOMAIN)
    client.force_login(reviewer)

    response = client.get(reverse("govloop-kpi", args=[policy.pk]))

    body = response.content.decode()
    assert response.status_code == 200
    assert "fires below 0.72" in body
    assert "baseline window" in body and "recent window" in body


def test_another_tenants_kpi_page_is_not_found(client, tenant, other_tenant, make_reviewer):
    seed(tenant=tenant, now=NOW)
    policy = RegressionPolicy.objects.get(tenant=tenant, domain=DOMAIN)
    client.force_login(make_reviewer("olga", for_tenant=other_tenant))

    assert client.get(reverse("govloop-kpi", args=[policy.pk])).status_code == 404
