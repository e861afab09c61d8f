"""The stable split of a guarded rollout: one implementation, imported by the server
(``governance.services.rollouts``) and used by the client to pick a case's cohort locally.

A case is in the candidate's cohort when the bucket of (rollout id, client id), one of
``BUCKETS``, is below ``percent`` x ``BUCKETS // 100``: within a stage a case never flips, and
as the percentage only grows, a case once exposed stays exposed."""

from __future__ import annotations

import hashlib

BUCKETS = 10_000


def rollout_bucket(*, rollout_id: int, client_id: str) -> int:
    digest = hashlib.sha256(f"{rollout_id}:{client_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def in_candidate_cohort(*, rollout_id: int, client_id: str, percent: int) -> bool:
    return rollout_bucket(rollout_id=rollout_id, client_id=client_id) < percent * (BUCKETS // 100)
