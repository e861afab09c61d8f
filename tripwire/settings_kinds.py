"""The tripwire's safety settings, registered with the kernel (imported from
``TripwireConfig.ready``): regression policies and drift baselines. For each field, which
direction of change loosens the tripwire (it fires later, weaker or never) and so waits for a
second reviewer; the other direction applies at once, by a machine too."""

from __future__ import annotations

from typing import Any

from governance.kernel.settings import (
    SettingsKind,
    any_change_loosens,
    disabling_loosens,
    raising_loosens,
    ranked,
    settings_kind_register,
)
from governance.settings_kinds import setting_or_lowering_a_bar_loosens
from tripwire.models import RegressionAction
from tripwire.services import drift, regression

# Weakest first: a notification only tells; a throttle stops one engine; a rollback undoes a
# config; the kill switch stops all production execution.
ACTION_STRENGTH = [
    RegressionAction.NOTIFY,
    RegressionAction.THROTTLE,
    RegressionAction.ROLLBACK,
    RegressionAction.KILL_SWITCH,
]
_action_weakens = ranked(ACTION_STRENGTH)


def shorter_window_loosens(old: Any, new: Any) -> bool:
    """``window_days``: None reads every event; a shorter window sees fewer events, so it is
    more often "insufficient data" and fires less."""
    if new is None:
        return False
    return old is None or int(new) < int(old)


def _ladder_at(tiers: list[dict[str, Any]], drop: float) -> str | None:
    """The action a drop just above ``drop`` fires: the highest tier it breaches."""
    breached = sorted(
        (float(t["min_drop"]), t["action"]) for t in tiers or [] if float(t["min_drop"]) <= drop
    )
    return breached[-1][1] if breached else None


def weaker_tiers_loosen(old: Any, new: Any) -> bool:
    """Escalation tiers: at some drop, the new ladder fires a weaker action than the old one,
    or none where the old one fired (a tier removed, raised or weakened)."""
    old, new = list(old or []), list(new or [])
    for drop in sorted({float(t["min_drop"]) for t in old + new}):
        before, after = _ladder_at(old, drop), _ladder_at(new, drop)
        if before is not None and (after is None or _action_weakens(before, after)):
            return True
    return False


def override_threshold_loosens(old: Any, new: Any) -> bool:
    """A baseline's ``threshold_pct`` overrides the tenant's drift threshold (None: use it).
    Lowering an override tightens; raising one loosens; setting or clearing one compares with a
    tenant value this predicate cannot see, so it is reviewed (fail closed)."""
    if old == new:
        return False
    if old is None or new is None:
        return True
    return float(new) > float(old)


def baseline_reset_loosens(old: Any, new: Any) -> bool:
    """Replacing a baseline resets what "normal" is, which can hide the drift that is
    happening. (A model's first baseline arms its detector: the kind's ``is_new``.)"""
    return old != new


REGRESSION_POLICY = settings_kind_register(
    SettingsKind(
        name="regression_policy",
        label="regression tripwire",
        fields={
            # What is measured: a different kind is a different tripwire.
            "kind": any_change_loosens,
            "enabled": disabling_loosens,
            # A larger recent window dilutes a fresh drop, so the tripwire fires later.
            "window_events": raising_loosens,
            # Resetting the baseline window redefines "normal" (seed 003's Friday reset).
            "baseline_events": any_change_loosens,
            "window_days": shorter_window_loosens,
            "max_drop_fraction": raising_loosens,
            "action": _action_weakens,
            "rollback_family": any_change_loosens,
            # None fires on the drop alone; a significance level adds a condition, a lower
            # one a harder condition.
            "significance_level": setting_or_lowering_a_bar_loosens,
            # Which test judges significance: neither is stricter for every window (a skewed
            # baseline favours Mann-Whitney, a normal one the t-test), so a switch is reviewed.
            "significance_test": any_change_loosens,
            "tiers": weaker_tiers_loosen,
            "consecutive_breaches": raising_loosens,
        },
        read=regression.regression_policy_read,
        write=regression.regression_policy_write,
        validate=regression.regression_policy_validate,
        is_new=regression.regression_policy_is_new,
    )
)

DRIFT_BASELINE = settings_kind_register(
    SettingsKind(
        name="drift_baseline",
        label="drift baseline",
        fields={
            "metrics": baseline_reset_loosens,
            "threshold_pct": override_threshold_loosens,
            # Scheduled checks: a different window measures something else; more required
            # samples skip more windows.
            "window_days": any_change_loosens,
            "min_samples": raising_loosens,
        },
        read=drift.drift_baseline_read,
        write=drift.drift_baseline_write,
        validate=drift.drift_baseline_validate,
        is_new=drift.drift_baseline_is_new,
    )
)
