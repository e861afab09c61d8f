"""Beat task of learning events."""

from __future__ import annotations

from celery import shared_task

from learning.services import events as services

__all__ = ["prune_learning_events"]


@shared_task(acks_late=True, time_limit=1800, soft_time_limit=1700)
def prune_learning_events() -> dict[int, int]:
    """Delete events past each tenant's retention; a second run finds nothing to delete."""
    return services.learning_events_prune()
