"""Beat task of the regression tripwires."""

from celery import shared_task

from tripwire.services.regression import regression_evaluate_enabled

__all__ = ["regression_evaluate_all"]


@shared_task(acks_late=True, time_limit=300, soft_time_limit=240)
def regression_evaluate_all() -> int:
    """Evaluate every enabled policy. Safe to run twice or concurrently: each policy's state
    row is locked (a locked one is skipped) and only new events count toward a breach."""
    return regression_evaluate_enabled()
