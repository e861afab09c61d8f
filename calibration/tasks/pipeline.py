"""Beat tasks of the calibration pipeline: thin and safe to run twice."""

from __future__ import annotations

from celery import shared_task

from calibration.services import pipeline as services

__all__ = ["calibration_pipeline_scheduled"]


@shared_task(acks_late=True, time_limit=1800, soft_time_limit=1700)
def calibration_pipeline_scheduled(tenant_id: int, window_days: int = 30) -> str:
    """Weekly per tenant: collect -> analyze -> propose (the proposal waits for approval)."""
    result = services.calibration_pipeline_scheduled(tenant_id=tenant_id, window_days=window_days)
    if result is None:
        return "skipped"
    return result["proposal"].status
