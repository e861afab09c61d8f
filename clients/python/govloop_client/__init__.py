"""govloop's client for governed systems: cached configs, local scoring with the server's
scorer, batched idempotent events, risk reservations and the go-live gate."""

__version__ = "0.1.0"

from govloop_client.client import ActiveConfig, Client, Reservation, RolloutSplit, Scored
from govloop_client.errors import (
    ApiError,
    BufferFull,
    ConfigUnavailable,
    FlushFailed,
    GovloopError,
    NoActiveConfig,
    ProdExecBlocked,
    RiskDenied,
)
from govloop_client.scoring import ABSTAIN, Scorer, ScoreResult, score
from govloop_client.split import in_candidate_cohort, rollout_bucket

__all__ = [
    "ABSTAIN",
    "ActiveConfig",
    "ApiError",
    "BufferFull",
    "Client",
    "ConfigUnavailable",
    "FlushFailed",
    "GovloopError",
    "NoActiveConfig",
    "ProdExecBlocked",
    "Reservation",
    "RiskDenied",
    "RolloutSplit",
    "ScoreResult",
    "Scored",
    "Scorer",
    "__version__",
    "in_candidate_cohort",
    "rollout_bucket",
    "score",
]
