"""Mann-Whitney U as the significance test of a value tripwire (issue 18)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.errors import ValidationFailed
from governance.services.ledger import Actor
from tests.factories.levers import T0, RegressionPolicyFactory, kpi_events
from tripwire.services.regression import (
    mann_whitney_p_value,
    regression_evaluate,
    regression_policy_upsert,
)

pytestmark = pytest.mark.django_db

# 29 baseline values near 10 and one outlier: the outlier inflates the baseline's variance,
# so Welch's t-test sees no significant drop although every current value is below 29 of the
# 30 baseline values. Mann-Whitney U compares ranks and sees it.
BASELINE = [10.0 + (i % 3) * 0.1 for i in range(29)] + [300.0]
CURRENT = [9.0 + (i % 3) * 0.1 for i in range(30)]


def _policy(tenant, test: str):
    return RegressionPolicyFactory(
        tenant=tenant,
        metric="basket_value",
        kind="value",
        window_events=30,
        baseline_events=30,
        significance_level=0.01,
        significance_test=test,
        action="NOTIFY",
    )


def test_mann_whitney_fires_where_an_outlier_hides_the_drop_from_the_t_test(tenant):
    policy = _policy(tenant, "mann_whitney")
    now = kpi_events(tenant, metric="basket_value", values=BASELINE + CURRENT)

    state = regression_evaluate(policy=policy, now=now)

    assert state.drop > 0.2
    assert state.p_value < 1e-6 and state.triggered


def test_the_t_test_misses_the_same_drop(tenant):
    policy = _policy(tenant, "t_test")
    now = kpi_events(tenant, metric="basket_value", values=BASELINE + CURRENT)

    state = regression_evaluate(policy=policy, now=now)

    assert state.drop > 0.2
    assert state.p_value > 0.01 and not state.triggered


def test_mann_whitney_does_not_fire_on_samples_from_one_distribution(tenant):
    policy = _policy(tenant, "mann_whitney")
    values = [10.0 + (i % 7) * 0.5 for i in range(60)]
    policy.max_drop_fraction = 0.0
    policy.save(update_fields=["max_drop_fraction"])
    now = kpi_events(tenant, metric="basket_value", values=values)

    state = regression_evaluate(policy=policy, now=now)

    assert state.p_value > 0.01 and not state.triggered


def test_mann_whitney_reads_only_the_window(tenant):
    """Older events beyond window + baseline are neither read nor counted: the rank sample
    is one statement with a LIMIT of window + baseline."""
    policy = _policy(tenant, "mann_whitney")
    older = kpi_events(tenant, metric="basket_value", values=[1.0] * 500, start=T0)
    now = kpi_events(tenant, metric="basket_value", values=BASELINE + CURRENT, start=older)

    with CaptureQueriesContext(connection) as queries:
        state = regression_evaluate(policy=policy, now=now)

    reads = [q["sql"] for q in queries.captured_queries if "tripwire_kpievent" in q["sql"]]
    rank_reads = [sql for sql in reads if sql.startswith('SELECT id, "value"')]
    assert rank_reads and all("LIMIT 60" in sql for sql in reads)
    assert state.baseline_count == 30 and state.triggered


def test_a_constant_window_has_no_evidence():
    assert mann_whitney_p_value(current=[3.0] * 5, baseline=[3.0] * 5) == 1.0


def test_upsert_refuses_mann_whitney_on_a_success_metric(tenant):
    with pytest.raises(ValidationFailed) as error:
        regression_policy_upsert(
            tenant=tenant,
            domain="WHOLESALE",
            metric="contract_rate",
            actor=Actor.system("test"),
            kind="success",
            significance_test="mann_whitney",
        )

    assert "significance_test" in error.value.errors


def test_the_api_sets_and_shows_the_significance_test(api):
    response = api.post(
        "/api/governance/regression/policies/upsert",
        {
            "domain": "SHOP",
            "metric": "basket_value",
            "kind": "value",
            "significance_level": 0.05,
            "significance_test": "mann_whitney",
        },
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["significance_test"] == "mann_whitney"
