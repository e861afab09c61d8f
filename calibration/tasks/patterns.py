"""Beat tasks of adaptive confidence."""

from __future__ import annotations

from celery import shared_task

from calibration.services import patterns as services

__all__ = ["patterns_recalibrate_pending"]


@shared_task(acks_late=True, time_limit=600, soft_time_limit=540)
def patterns_recalibrate_pending(tenant_id: int | None = None) -> int:
    """Recalibrate the patterns with new outcomes only; a second run finds none."""
    return services.patterns_recalibrate_pending(tenant_id=tenant_id)
