"""The safety settings the governance app owns, registered with the kernel (imported from
``GovernanceConfig.ready``): risk policies, the recommendation charter, the checkpoint config
and config families. For each field: which direction of change *loosens* it (and so waits for
a second reviewer); every other change tightens and applies at once."""

from __future__ import annotations

from typing import Any

from governance.kernel.settings import (
    SettingsKind,
    growing_set_loosens,
    lowering_loosens,
    raising_loosens,
    settings_kind_register,
    shrinking_set_loosens,
)
from governance.models import CheckpointPriority
from governance.services import levers
from governance.services import settings as services


def enabling_loosens(old: Any, new: Any) -> bool:
    """A switch that *allows* something (a risk policy lets its engine act): turning it on
    loosens, turning it off is the safe direction (THROTTLE does it automatically)."""
    return not bool(old) and bool(new)


def setting_or_lowering_a_bar_loosens(old: Any, new: Any) -> bool:
    """An optional bar that lets things through once reached (auto-approve confidence): none
    set lets nothing through, so setting one loosens, and so does lowering it."""
    if new is None:
        return False
    return old is None or float(new) < float(old)


def restricting_an_all_list_loosens(old: Any, new: Any) -> bool:
    """``enabled_types``: empty means every type is opened (the strictest); a list opens only
    those, so going from all to a list, or dropping a type from a list, loosens."""
    old, new = set(old or []), set(new or [])
    if not new:
        return False
    return not old or bool(old - new)


def _urgency(value: Any) -> int:
    if isinstance(value, str) and value.upper() in CheckpointPriority.names:
        return int(CheckpointPriority[value.upper()])
    try:
        return int(value)
    except (TypeError, ValueError):
        return int(CheckpointPriority.LOW)


def less_urgent_priority_loosens(old: Any, new: Any) -> bool:
    """``priority_overrides``: a type made less urgent sinks in the queue (and below CRITICAL
    is subject to max_pending). An override removed or added falls back to, or replaces, a
    default this predicate cannot see, so it loosens unless it is CRITICAL (fail closed)."""
    old, new = dict(old or {}), dict(new or {})
    for kind in set(old) | set(new):
        if kind not in new:
            return True
        if kind not in old:
            if _urgency(new[kind]) != CheckpointPriority.CRITICAL:
                return True
            continue
        if _urgency(new[kind]) > _urgency(old[kind]):
            return True
    return False


def empty_schema_loosens(old: Any, new: Any) -> bool:
    """A family's JSON schema: any other schema can admit payloads the old one refused, so a
    change loosens; only adding a schema where there was none (which admits anything) does
    not."""
    return bool(old) and old != new


RISK_POLICY = settings_kind_register(
    SettingsKind(
        name="risk_policy",
        label="risk policy",
        fields={
            "enabled": enabling_loosens,
            # Caps: a higher cap, or None (no cap), lets an engine do more.
            "max_daily_loss": raising_loosens,
            "max_daily_exposure": raising_loosens,
            "max_daily_actions": raising_loosens,
        },
        read=levers.risk_policy_read,
        write=levers.risk_policy_write,
        validate=levers.risk_policy_validate,
    )
)

CHARTER = settings_kind_register(
    SettingsKind(
        name="charter_policy",
        label="recommendation charter",
        fields={
            "min_confidence_prod": lowering_loosens,
            "min_sandbox_trials": lowering_loosens,
            "min_success_rate": lowering_loosens,
        },
        read=levers.charter_policy_read,
        write=levers.charter_policy_write,
        validate=levers.charter_policy_validate,
    )
)

# The wording ("raise auto_approve_confidence or max_pending") is half right: a higher
# max_pending admits more unread checkpoints, but a *lower* auto-approve confidence approves
# more checkpoints without a human, so lowering it (or setting one at all) is what loosens.
CHECKPOINT_CONFIG = settings_kind_register(
    SettingsKind(
        name="checkpoint_config",
        label="checkpoint config",
        fields={
            "enabled_types": restricting_an_all_list_loosens,
            "priority_overrides": less_urgent_priority_loosens,
            "auto_approve_confidence": setting_or_lowering_a_bar_loosens,
            "auto_approve_types": growing_set_loosens,
            # Sooner auto-dismissal takes non-blocking checkpoints out of the queue unread.
            "auto_dismiss_hours": lowering_loosens,
            "max_pending": raising_loosens,
            "blocking_types": shrinking_set_loosens,
        },
        read=services.checkpoint_config_read,
        write=services.checkpoint_config_write,
        validate=services.checkpoint_config_validate,
    )
)

CONFIG_FAMILY = settings_kind_register(
    SettingsKind(
        name="config_family",
        label="config family",
        fields={
            "approvals_required": lowering_loosens,
            "json_schema": empty_schema_loosens,
        },
        read=services.config_family_read,
        write=services.config_family_write,
        validate=services.config_family_validate,
    )
)
