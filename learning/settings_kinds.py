"""Learning's safety settings, registered with the kernel (imported from
``LearningConfig.ready``): the event collection switches and retention of
``LearningEngineConfig``. Switching collection off or pruning sooner loses the evidence the
proofs and calibrators are built from, so it waits for a second reviewer."""

from __future__ import annotations

from typing import Any

from governance.kernel.settings import SettingsKind, disabling_loosens, settings_kind_register
from learning.services import events


def shorter_retention_loosens(old: Any, new: Any) -> bool:
    """``retention_days``: None keeps every event; fewer days prune evidence sooner."""
    if new is None:
        return False
    return old is None or int(new) < int(old)


def never_loosens(old: Any, new: Any) -> bool:
    """Names and the query page size govern nothing (their changes are still ledgered)."""
    return False


LEARNING_CONFIG = settings_kind_register(
    SettingsKind(
        name="learning_config",
        label="learning engine config",
        fields={
            "engine_id": never_loosens,
            "engine_name": never_loosens,
            "max_events_memory": never_loosens,
            "collect_signals": disabling_loosens,
            "collect_executions": disabling_loosens,
            "collect_portfolio": disabling_loosens,
            "collect_risk": disabling_loosens,
            "collect_predictions": disabling_loosens,
            "retention_days": shorter_retention_loosens,
        },
        read=events.learning_config_read,
        write=events.learning_config_write,
        validate=events.learning_config_validate,
    )
)
