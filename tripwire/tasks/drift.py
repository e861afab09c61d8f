"""Beat task of model metric drift."""

from __future__ import annotations

from celery import shared_task

from tripwire.services import drift as services

__all__ = ["check_production_drift"]


@shared_task(acks_late=True, time_limit=600, soft_time_limit=540)
def check_production_drift() -> dict[str, int]:
    """Check every production calibrator that has a baseline. Running it twice raises no
    second alert: a metric with an OPEN alert is not alerted again."""
    return services.drift_check_production_models()
