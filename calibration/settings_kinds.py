"""The calibrator registry's safety settings, registered with the kernel (imported from
``CalibrationConfig.ready``): which direction of each change loosens the evaluation gate or
the drift detector, and so waits for a second reviewer."""

from __future__ import annotations

from typing import Any

from calibration.services import registry
from governance.kernel.settings import (
    SettingsKind,
    disabling_loosens,
    lowering_loosens,
    raising_loosens,
    settings_kind_register,
)


def never_loosens(old: Any, new: Any) -> bool:
    """Kept for the seed's configuration; the calibrators are fitted full-batch, so it
    governs nothing (its changes are still ledgered)."""
    return False


REGISTRY_CONFIG = settings_kind_register(
    SettingsKind(
        name="calibrator_registry_config",
        label="calibrator registry settings",
        fields={
            # Fewer pairs fit a noisier calibrator.
            "min_samples_for_training": lowering_loosens,
            "training_batch_size": never_loosens,
            "require_eval_pass": disabling_loosens,
            # The benchmark is a *share* of the baseline's quality: value >= t * baseline for
            # higher-is-better metrics, value <= baseline / t for lower-is-better ones (Brier,
            # log loss, ECE). Either way a lower share admits a worse model, so lowering
            # loosens. (The per-metric thresholds of lower-is-better metrics, where raising
            # loosens, are given with each evaluation and are not a stored setting.)
            "eval_benchmark_threshold": lowering_loosens,
            "enable_drift_detection": disabling_loosens,
            # A larger relative change is needed before a drift alert is raised.
            "drift_threshold_pct": raising_loosens,
        },
        read=registry.registry_config_read,
        write=registry.registry_config_write,
        validate=registry.registry_config_validate,
    )
)
