"""Beat task of the learning proofs."""

from __future__ import annotations

from celery import shared_task

from learning.services import proofs as services

__all__ = ["decay_regret"]


@shared_task(acks_late=True, time_limit=600, soft_time_limit=540)
def decay_regret() -> int:
    """Decay every policy's regret score to now (one UPDATE per tenant with work). Safe to run
    twice or concurrently: the second run finds every row already decayed to its instant."""
    return services.regret_decay_all()
