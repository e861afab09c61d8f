import datetime as dt

import pytest

from governance.kernel.settings import settings_change_approve
from governance.models import (
    Checkpoint,
    CheckpointState,
    GoLiveState,
    LedgerEntry,
    RiskPolicy,
    SettingsChange,
)
from governance.selectors import active_config
from governance.services import versions as version_services
from governance.services.ledger import Actor
from tests.factories import scoring_payload
from tests.factories.levers import (
    T0,
    GoLiveStateFactory,
    RegressionPolicyFactory,
    RiskPolicyFactory,
    kpi_events,
)
from tripwire.models import RegressionState
from tripwire.services.regression import (
    regression_acknowledge,
    regression_evaluate,
    regression_evaluate_enabled,
    regression_policy_upsert,
)
from tripwire.tasks.regression import regression_evaluate_all

pytestmark = pytest.mark.django_db


def _window(tenant, *, baseline_ok, baseline_bad, current_ok, current_bad, start=T0):
    """A baseline block followed by a current block (the newest events)."""
    moment = kpi_events(tenant, successes=baseline_ok, failures=baseline_bad, start=start)
    return kpi_events(tenant, successes=current_ok, failures=current_bad, start=moment)


def test_seed_scenario_triggers_and_throttles_the_domain_risk_policy(tenant):
    policy = RegressionPolicyFactory(tenant=tenant)
    RiskPolicyFactory(tenant=tenant, engine="WHOLESALE", enabled=True)
    now = _window(tenant, baseline_ok=190, baseline_bad=10, current_ok=37, current_bad=13)

    state = regression_evaluate(policy=policy, now=now)

    assert state.status == "triggered" and state.triggered
    assert state.baseline == pytest.approx(0.95)
    assert state.current == pytest.approx(0.74)
    assert state.drop == pytest.approx(0.221, abs=0.001)
    assert state.action_taken.startswith("THROTTLE")
    assert RiskPolicy.objects.get(tenant=tenant, engine="WHOLESALE").enabled is False
    checkpoint = Checkpoint.objects.get(tenant=tenant, checkpoint_type="tripwire_triggered")
    assert checkpoint.blocking and checkpoint.priority == 0  # CRITICAL
    assert LedgerEntry.objects.filter(tenant=tenant, kind="tripwire.triggered").count() == 1


def test_throttle_creates_the_risk_policy_disabled_when_missing(tenant):
    policy = RegressionPolicyFactory(tenant=tenant)
    now = _window(tenant, baseline_ok=200, baseline_bad=0, current_ok=10, current_bad=40)

    regression_evaluate(policy=policy, now=now)

    risk = RiskPolicy.objects.get(tenant=tenant, engine="WHOLESALE")
    assert risk.enabled is False and "tripwire" in risk.disabled_reason


@pytest.mark.parametrize(
    ("current_ok", "triggered"),
    [
        pytest.param(30, False, id="drop-equal-to-threshold-does-not-trigger"),
        pytest.param(29, True, id="drop-just-above-threshold-triggers"),
    ],
)
def test_the_threshold_is_exclusive(tenant, current_ok, triggered):
    policy = RegressionPolicyFactory(tenant=tenant, window_events=40, max_drop_fraction=0.25)
    now = _window(
        tenant, baseline_ok=200, baseline_bad=0, current_ok=current_ok, current_bad=40 - current_ok
    )

    state = regression_evaluate(policy=policy, now=now)

    assert state.triggered is triggered
    assert state.drop == pytest.approx(0.25 if current_ok == 30 else 0.275)


def test_value_metric_drop_equal_to_threshold_does_not_trigger(tenant):
    policy = RegressionPolicyFactory(
        tenant=tenant,
        metric="roi_event",
        kind="value",
        window_events=4,
        baseline_events=4,
        max_drop_fraction=0.25,
    )
    now = kpi_events(tenant, metric="roi_event", values=[8.0] * 4 + [6.0] * 4)

    state = regression_evaluate(policy=policy, now=now)

    assert (state.baseline, state.current, state.drop) == (8.0, 6.0, 0.25)
    assert state.status == "ok"


def test_too_few_events_reports_insufficient_data_and_fires_nothing(tenant):
    policy = RegressionPolicyFactory(tenant=tenant)
    now = _window(tenant, baseline_ok=100, baseline_bad=0, current_ok=0, current_bad=50)

    state = regression_evaluate(policy=policy, now=now)

    assert state.status == "insufficient_data" and not state.triggered
    assert (state.window_count, state.baseline_count) == (50, 100)
    assert not RiskPolicy.objects.filter(tenant=tenant).exists()


def test_two_tiers_fire_throttle_at_25_and_kill_switch_at_45_percent(tenant, reviewer):
    policy = RegressionPolicyFactory(
        tenant=tenant,
        window_events=20,
        baseline_events=100,
        max_drop_fraction=0.2,
        action="THROTTLE",
        tiers=[{"min_drop": 0.4, "action": "KILL_SWITCH"}],
    )
    GoLiveStateFactory(tenant=tenant, enabled=True)
    now = _window(tenant, baseline_ok=100, baseline_bad=0, current_ok=15, current_bad=5)

    state = regression_evaluate(policy=policy, now=now)

    assert state.drop == pytest.approx(0.25)
    assert state.action_taken.startswith("THROTTLE")
    assert GoLiveState.objects.get(tenant=tenant).kill_switch_engaged is False

    # 45%: the higher tier escalates even before the acknowledgement.
    now = kpi_events(tenant, failures=4, start=now)
    state = regression_evaluate(policy=policy, now=now)

    assert state.drop == pytest.approx(0.45)
    assert state.action_taken == "KILL_SWITCH: engaged"
    assert GoLiveState.objects.get(tenant=tenant).kill_switch_engaged is True


def test_at_45_percent_only_the_highest_tier_fires(tenant):
    policy = RegressionPolicyFactory(
        tenant=tenant,
        window_events=20,
        baseline_events=100,
        tiers=[{"min_drop": 0.4, "action": "KILL_SWITCH"}],
    )
    now = _window(tenant, baseline_ok=100, baseline_bad=0, current_ok=11, current_bad=9)

    state = regression_evaluate(policy=policy, now=now)

    assert state.drop == pytest.approx(0.45)
    assert state.action_taken == "KILL_SWITCH: engaged"
    assert not RiskPolicy.objects.filter(tenant=tenant).exists()


def test_consecutive_breaches_fire_on_the_third_breached_evaluation_not_the_second(tenant):
    policy = RegressionPolicyFactory(
        tenant=tenant,
        window_events=20,
        baseline_events=100,
        consecutive_breaches=3,
        action="NOTIFY",
    )
    now = _window(tenant, baseline_ok=100, baseline_bad=0, current_ok=10, current_bad=10)
    streaks = []
    for _ in range(3):
        state = regression_evaluate(policy=policy, now=now)
        streaks.append((state.breach_streak, state.triggered))
        now = kpi_events(tenant, failures=1, start=now)

    assert streaks == [(1, False), (2, False), (3, True)]


def test_an_evaluation_without_new_events_does_not_count_as_another_breach(tenant):
    policy = RegressionPolicyFactory(
        tenant=tenant, window_events=20, baseline_events=100, consecutive_breaches=2
    )
    now = _window(tenant, baseline_ok=100, baseline_bad=0, current_ok=10, current_bad=10)

    first = regression_evaluate(policy=policy, now=now)
    again = regression_evaluate(policy=policy, now=now + dt.timedelta(minutes=5))

    assert (first.breach_streak, again.breach_streak) == (1, 1)
    assert not again.triggered


def test_a_recovery_resets_the_breach_streak(tenant):
    policy = RegressionPolicyFactory(
        tenant=tenant, window_events=20, baseline_events=100, consecutive_breaches=2
    )
    now = _window(tenant, baseline_ok=100, baseline_bad=0, current_ok=10, current_bad=10)
    regression_evaluate(policy=policy, now=now)
    now = kpi_events(tenant, successes=20, start=now)

    state = regression_evaluate(policy=policy, now=now)

    assert (state.status, state.breach_streak) == ("ok", 0)


def test_a_triggered_policy_does_not_fire_again_until_acknowledged(tenant, reviewer):
    policy = RegressionPolicyFactory(tenant=tenant, window_events=20, baseline_events=100)
    now = _window(tenant, baseline_ok=100, baseline_bad=0, current_ok=10, current_bad=10)
    regression_evaluate(policy=policy, now=now)
    now = kpi_events(tenant, failures=1, start=now)

    regression_evaluate(policy=policy, now=now)

    assert LedgerEntry.objects.filter(tenant=tenant, kind="tripwire.triggered").count() == 1
    assert (
        Checkpoint.objects.filter(tenant=tenant, checkpoint_type="tripwire_triggered").count() == 1
    )

    state = regression_acknowledge(policy=policy, user=reviewer, reason="retraining the model")
    assert not state.triggered and state.acknowledged_by == reviewer
    assert Checkpoint.objects.get(tenant=tenant).state == CheckpointState.APPROVED

    now = kpi_events(tenant, failures=1, start=now)
    state = regression_evaluate(policy=policy, now=now)
    assert state.triggered
    assert LedgerEntry.objects.filter(tenant=tenant, kind="tripwire.triggered").count() == 2


def test_acknowledging_keeps_the_throttle_unless_asked(tenant, reviewer):
    policy = RegressionPolicyFactory(tenant=tenant, window_events=20, baseline_events=100)
    RiskPolicyFactory(tenant=tenant, engine="WHOLESALE", enabled=True)
    now = _window(tenant, baseline_ok=100, baseline_bad=0, current_ok=10, current_bad=10)
    regression_evaluate(policy=policy, now=now)

    regression_acknowledge(policy=policy, user=reviewer, reason="fixed", reenable_risk_policy=False)

    assert RiskPolicy.objects.get(tenant=tenant, engine="WHOLESALE").enabled is False
    assert not SettingsChange.objects.filter(tenant=tenant).exists()


def test_re_enabling_on_acknowledge_waits_for_a_second_reviewer(tenant, reviewer, second_reviewer):
    policy = RegressionPolicyFactory(tenant=tenant, window_events=20, baseline_events=100)
    RiskPolicyFactory(tenant=tenant, engine="WHOLESALE", enabled=True)
    now = _window(tenant, baseline_ok=100, baseline_bad=0, current_ok=10, current_bad=10)
    regression_evaluate(policy=policy, now=now)

    regression_acknowledge(policy=policy, user=reviewer, reason="fixed", reenable_risk_policy=True)

    assert RiskPolicy.objects.get(tenant=tenant, engine="WHOLESALE").enabled is False
    change = SettingsChange.objects.get(tenant=tenant, setting="risk_policy", target="WHOLESALE")
    acknowledged = LedgerEntry.objects.get(tenant=tenant, kind="tripwire.acknowledged")
    assert acknowledged.payload["risk_policy_change_request"] == change.pk
    settings_change_approve(change=change, user=second_reviewer, reason="the model is retrained")
    assert RiskPolicy.objects.get(tenant=tenant, engine="WHOLESALE").enabled is True


def test_acknowledging_is_a_reviewers_act(tenant, viewer):
    from governance.errors import Forbidden

    policy = RegressionPolicyFactory(tenant=tenant, window_events=20, baseline_events=100)
    now = _window(tenant, baseline_ok=100, baseline_bad=0, current_ok=10, current_bad=10)
    regression_evaluate(policy=policy, now=now)

    with pytest.raises(Forbidden):
        regression_acknowledge(policy=policy, user=viewer, reason="not mine to clear")
    assert RegressionState.objects.get(policy=policy).triggered


def test_a_disabled_policy_is_measured_but_never_fires(tenant):
    policy = RegressionPolicyFactory(
        tenant=tenant, enabled=False, window_events=20, baseline_events=100
    )
    now = _window(tenant, baseline_ok=100, baseline_bad=0, current_ok=0, current_bad=20)

    state = regression_evaluate(policy=policy, now=now)

    assert state.drop == 1.0 and not state.triggered


def test_rollback_reactivates_the_previous_approved_version_and_the_runtime_read_sees_it(
    tenant, author, reviewer, django_capture_on_commit_callbacks, api
):
    v1 = version_services.version_register(
        tenant=tenant,
        family="scoring",
        version="1.0.0",
        payload=scoring_payload(),
        actor=Actor.for_user(author),
        submit=True,
    )
    version_services.version_approve(version=v1, user=reviewer, reason="ok")
    version_services.version_activate(version=v1, user=reviewer, reason="go")
    v2 = version_services.version_register(
        tenant=tenant,
        family="scoring",
        version="1.1.0",
        payload=scoring_payload(bias=0.1),
        base_version=v1,
        actor=Actor.for_user(author),
        submit=True,
    )
    version_services.version_approve(version=v2, user=reviewer, reason="ok")
    version_services.version_activate(version=v2, user=reviewer, reason="go")
    assert active_config(tenant_id=tenant.pk, family="scoring")["version"] == "1.1.0"
    policy = RegressionPolicyFactory(
        tenant=tenant,
        window_events=20,
        baseline_events=100,
        action="ROLLBACK",
        rollback_family="scoring",
    )
    now = _window(tenant, baseline_ok=100, baseline_bad=0, current_ok=10, current_bad=10)

    with django_capture_on_commit_callbacks(execute=True):
        state = regression_evaluate(policy=policy, now=now)

    assert state.action_taken == "ROLLBACK: scoring v1.0.0 re-activated"
    assert active_config(tenant_id=tenant.pk, family="scoring")["version"] == "1.0.0"
    runtime = api.get("/api/governance/config/scoring/active")
    assert runtime.status_code == 200 and runtime.json()["version"] == "1.0.0"


def test_significance_level_blocks_a_drop_that_is_not_significant(tenant):
    policy = RegressionPolicyFactory(
        tenant=tenant, window_events=5, baseline_events=5, significance_level=0.01
    )
    now = _window(tenant, baseline_ok=5, baseline_bad=0, current_ok=3, current_bad=2)

    state = regression_evaluate(policy=policy, now=now)

    assert state.drop == pytest.approx(0.4)
    assert state.p_value > 0.01 and not state.triggered


def test_significance_level_lets_a_significant_value_drop_fire(tenant):
    policy = RegressionPolicyFactory(
        tenant=tenant,
        metric="roi_event",
        kind="value",
        window_events=30,
        baseline_events=30,
        significance_level=0.01,
        action="NOTIFY",
    )
    baseline = [10.0 + (i % 5) * 0.1 for i in range(30)]
    current = [5.0 + (i % 5) * 0.1 for i in range(30)]
    now = kpi_events(tenant, metric="roi_event", values=baseline + current)

    state = regression_evaluate(policy=policy, now=now)

    assert state.p_value < 0.01 and state.triggered


def test_window_days_ignores_older_events(tenant):
    policy = RegressionPolicyFactory(
        tenant=tenant, window_events=20, baseline_events=100, window_days=1
    )
    old = kpi_events(tenant, successes=100, start=T0 - dt.timedelta(days=3))
    assert old < T0
    now = kpi_events(tenant, successes=10, failures=10, start=T0)

    state = regression_evaluate(policy=policy, now=now)

    assert state.status == "insufficient_data"


def test_the_beat_task_evaluates_enabled_policies_and_is_safe_to_run_twice(tenant):
    policy = RegressionPolicyFactory(tenant=tenant, window_events=20, baseline_events=100)
    RegressionPolicyFactory(tenant=tenant, metric="other", enabled=False)
    _window(
        tenant,
        baseline_ok=100,
        baseline_bad=0,
        current_ok=10,
        current_bad=10,
        start=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
    )

    assert regression_evaluate_all() == 1
    assert regression_evaluate_enabled() == 1

    assert RegressionState.objects.get(policy=policy).triggered
    assert LedgerEntry.objects.filter(tenant=tenant, kind="tripwire.triggered").count() == 1


def test_upsert_validates_tiers_and_rollback_family(tenant, system_actor):
    from governance.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as raised:
        regression_policy_upsert(
            tenant=tenant,
            domain="WHOLESALE",
            metric="m",
            actor=system_actor,
            max_drop_fraction=0.3,
            tiers=[{"min_drop": 0.2, "action": "ROLLBACK"}],
        )

    assert set(raised.value.errors) == {"tiers", "rollback_family"}


def test_the_migration_seeds_four_disabled_default_policies(db):
    from tripwire.models import RegressionPolicy

    seeded = RegressionPolicy.objects.filter(tenant__slug="default")

    assert sorted(
        (p.domain, p.metric, p.max_drop_fraction, p.action, p.enabled) for p in seeded
    ) == [
        ("BUYER_MATCH", "match_success", 0.25, "THROTTLE", False),
        ("CAPITAL", "roi_event", 0.3, "KILL_SWITCH", False),
        ("WHOLESALE", "contract_rate", 0.2, "THROTTLE", False),
        ("WHOLESALE", "offer_accept_rate", 0.15, "THROTTLE", False),
    ]
