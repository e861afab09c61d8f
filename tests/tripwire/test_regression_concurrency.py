"""Concurrent evaluations of one breached policy (beat workers racing an API call) fire its
action exactly once."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from governance.models import Checkpoint, LedgerEntry
from tests.factories.levers import RegressionPolicyFactory, RiskPolicyFactory, kpi_events
from tripwire.models import RegressionState
from tripwire.services.regression import regression_evaluate

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.mark.parametrize("skip_locked", [False, True], ids=["api-evaluations", "beat-workers"])
def test_racing_evaluations_fire_the_action_once(tenant, skip_locked):
    policy = RegressionPolicyFactory(tenant=tenant, window_events=20, baseline_events=100)
    RiskPolicyFactory(tenant=tenant, engine="WHOLESALE", enabled=True)
    moment = kpi_events(tenant, successes=100)
    now = kpi_events(tenant, successes=10, failures=10, start=moment)
    barrier = threading.Barrier(8)

    def evaluate(_):
        barrier.wait()
        try:
            return regression_evaluate(policy=policy.pk, now=now, skip_locked=skip_locked)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(evaluate, range(8)))

    assert RegressionState.objects.get(policy=policy).triggered
    assert LedgerEntry.objects.filter(tenant=tenant, kind="tripwire.triggered").count() == 1
    assert LedgerEntry.objects.filter(tenant=tenant, kind="risk_policy.throttled").count() == 1
    assert (
        Checkpoint.objects.filter(tenant=tenant, checkpoint_type="tripwire_triggered").count() == 1
    )
