from governance.models.changes import RollbackReport, SettingsChange, SettingsChangeState
from governance.models.checkpoints import (
    Checkpoint,
    CheckpointConfig,
    CheckpointPriority,
    CheckpointState,
    CheckpointType,
)
from governance.models.ledger import LedgerAnchor, LedgerEntry, LedgerHead, LedgerImmutableError
from governance.models.rollouts import Rollout, RolloutState
from governance.models.tenancy import ApiToken, Membership, Tenant
from governance.models.versions import (
    ConfigFamily,
    ConfigVersion,
    VersionApproval,
    VersionSource,
    VersionState,
)

__all__ = [
    "ApiToken",
    "Checkpoint",
    "CheckpointConfig",
    "CheckpointPriority",
    "CheckpointState",
    "CheckpointType",
    "ConfigFamily",
    "ConfigVersion",
    "LedgerAnchor",
    "LedgerEntry",
    "LedgerHead",
    "LedgerImmutableError",
    "Membership",
    "RollbackReport",
    "Rollout",
    "RolloutState",
    "SettingsChange",
    "SettingsChangeState",
    "Tenant",
    "VersionApproval",
    "VersionSource",
    "VersionState",
]
from governance.models.levers import *  # noqa: F403
