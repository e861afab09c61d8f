"""Which direction of each safety setting loosens it (and so waits for a second reviewer).
Every governed field of every registered kind has at least one row here."""

from __future__ import annotations

from decimal import Decimal

import pytest

from governance.kernel.settings import settings_kind, settings_kinds

CASES = [
    # regression tripwires
    ("regression_policy", "enabled", True, False, True),
    ("regression_policy", "enabled", False, True, False),
    ("regression_policy", "kind", "success", "value", True),
    ("regression_policy", "window_events", 50, 500, True),
    ("regression_policy", "window_events", 50, 20, False),
    ("regression_policy", "baseline_events", 200, 100, True),
    ("regression_policy", "window_days", None, 7, True),
    ("regression_policy", "window_days", 7, 30, False),
    ("regression_policy", "window_days", 7, None, False),
    ("regression_policy", "max_drop_fraction", 0.2, 0.5, True),
    ("regression_policy", "max_drop_fraction", 0.2, 0.1, False),
    ("regression_policy", "action", "KILL_SWITCH", "THROTTLE", True),
    ("regression_policy", "action", "THROTTLE", "NOTIFY", True),
    ("regression_policy", "action", "THROTTLE", "ROLLBACK", False),
    ("regression_policy", "action", "ROLLBACK", "KILL_SWITCH", False),
    ("regression_policy", "rollback_family", "scoring", "other", True),
    ("regression_policy", "significance_level", None, 0.05, True),
    ("regression_policy", "significance_level", 0.05, 0.01, True),
    ("regression_policy", "significance_level", 0.05, None, False),
    ("regression_policy", "significance_test", "t_test", "mann_whitney", True),
    ("regression_policy", "significance_test", "mann_whitney", "t_test", True),
    ("regression_policy", "consecutive_breaches", 1, 3, True),
    ("regression_policy", "consecutive_breaches", 3, 1, False),
    (
        "regression_policy",
        "tiers",
        [{"min_drop": 0.4, "action": "KILL_SWITCH"}],
        [],
        True,
    ),
    (
        "regression_policy",
        "tiers",
        [{"min_drop": 0.4, "action": "KILL_SWITCH"}],
        [{"min_drop": 0.6, "action": "KILL_SWITCH"}],
        True,
    ),
    (
        "regression_policy",
        "tiers",
        [{"min_drop": 0.4, "action": "KILL_SWITCH"}],
        [{"min_drop": 0.4, "action": "NOTIFY"}],
        True,
    ),
    (
        "regression_policy",
        "tiers",
        [{"min_drop": 0.4, "action": "ROLLBACK"}],
        [{"min_drop": 0.3, "action": "ROLLBACK"}, {"min_drop": 0.5, "action": "KILL_SWITCH"}],
        False,
    ),
    # drift baselines
    ("drift_baseline", "metrics", {"accuracy": 0.82}, {"accuracy": 0.7}, True),
    ("drift_baseline", "threshold_pct", 0.1, 100000, True),
    ("drift_baseline", "threshold_pct", None, 100000, True),
    ("drift_baseline", "threshold_pct", 0.1, None, True),
    ("drift_baseline", "threshold_pct", 0.2, 0.05, False),
    ("drift_baseline", "window_days", 7, 30, True),
    ("drift_baseline", "min_samples", 100, 1000, True),
    ("drift_baseline", "min_samples", 100, 50, False),
    # risk policies: enabling lets the engine act; a higher cap, or none, lets it do more
    ("risk_policy", "enabled", False, True, True),
    ("risk_policy", "enabled", True, False, False),
    ("risk_policy", "max_daily_loss", Decimal(100), Decimal(200), True),
    ("risk_policy", "max_daily_exposure", Decimal(100), None, True),
    ("risk_policy", "max_daily_exposure", None, Decimal(100), False),
    ("risk_policy", "max_daily_actions", 10, 5, False),
    # the recommendation charter
    ("charter_policy", "min_confidence_prod", 0.8, 0.7, True),
    ("charter_policy", "min_confidence_prod", 0.8, 0.9, False),
    ("charter_policy", "min_sandbox_trials", 20, 0, True),
    ("charter_policy", "min_success_rate", 0.8, 0.5, True),
    # the checkpoint config
    ("checkpoint_config", "auto_approve_confidence", None, 0.99, True),
    ("checkpoint_config", "auto_approve_confidence", 0.95, 0.9, True),
    ("checkpoint_config", "auto_approve_confidence", 0.9, 0.95, False),
    ("checkpoint_config", "auto_approve_confidence", 0.9, None, False),
    ("checkpoint_config", "max_pending", 100, 1000, True),
    ("checkpoint_config", "max_pending", 100, 50, False),
    ("checkpoint_config", "auto_dismiss_hours", 72, 1, True),
    ("checkpoint_config", "auto_dismiss_hours", 72, 96, False),
    ("checkpoint_config", "blocking_types", ["drift_alert"], [], True),
    ("checkpoint_config", "blocking_types", [], ["drift_alert"], False),
    ("checkpoint_config", "auto_approve_types", [], ["review_request"], True),
    ("checkpoint_config", "auto_approve_types", ["review_request"], [], False),
    ("checkpoint_config", "enabled_types", [], ["config_approval"], True),
    ("checkpoint_config", "enabled_types", ["a", "b"], ["a"], True),
    ("checkpoint_config", "enabled_types", ["a"], [], False),
    ("checkpoint_config", "priority_overrides", {}, {"drift_alert": "LOW"}, True),
    ("checkpoint_config", "priority_overrides", {"drift_alert": "HIGH"}, {}, True),
    ("checkpoint_config", "priority_overrides", {"drift_alert": "LOW"}, {"drift_alert": 0}, False),
    # config families
    ("config_family", "approvals_required", 2, 1, True),
    ("config_family", "approvals_required", 1, 2, False),
    ("config_family", "json_schema", {"type": "object"}, {"type": "object", "x": 1}, True),
    ("config_family", "json_schema", {}, {"type": "object"}, False),
    # learning: collection switches and retention
    ("learning_config", "collect_signals", True, False, True),
    ("learning_config", "collect_executions", True, False, True),
    ("learning_config", "collect_portfolio", True, False, True),
    ("learning_config", "collect_predictions", True, False, True),
    ("learning_config", "collect_risk", False, True, False),
    ("learning_config", "retention_days", 365, 30, True),
    ("learning_config", "retention_days", None, 365, True),
    ("learning_config", "retention_days", 30, None, False),
    ("learning_config", "engine_name", "a", "b", False),
    ("learning_config", "engine_id", "a", "b", False),
    ("learning_config", "max_events_memory", 20000, 10, False),
    # the calibrator registry
    ("calibrator_registry_config", "require_eval_pass", True, False, True),
    ("calibrator_registry_config", "eval_benchmark_threshold", 0.95, 0.8, True),
    ("calibrator_registry_config", "eval_benchmark_threshold", 0.8, 0.95, False),
    ("calibrator_registry_config", "enable_drift_detection", True, False, True),
    ("calibrator_registry_config", "drift_threshold_pct", 0.1, 0.5, True),
    ("calibrator_registry_config", "drift_threshold_pct", 0.1, 0.05, False),
    ("calibrator_registry_config", "min_samples_for_training", 1000, 10, True),
    ("calibrator_registry_config", "training_batch_size", 256, 1, False),
]


@pytest.mark.parametrize(
    ("setting", "field", "old", "new", "loosens"),
    [pytest.param(*case, id=f"{case[0]}.{case[1]}:{case[2]!r}->{case[3]!r}") for case in CASES],
)
def test_each_direction_of_each_safety_setting(setting, field, old, new, loosens):
    assert settings_kind(setting).fields[field](old, new) is loosens


def test_every_governed_field_has_a_case():
    covered = {(setting, field) for setting, field, *_ in CASES}
    every = {(name, field) for name, kind in settings_kinds().items() for field in kind.fields}

    assert every - covered == set()
