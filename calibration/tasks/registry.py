"""Celery tasks of the calibrator registry: thin, idempotent wrappers around services."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.utils import timezone

from calibration.services import registry as services

__all__ = ["dispatch_queued_training_jobs", "run_training_job"]

TIME_LIMIT = 900


@shared_task(
    bind=True,
    acks_late=True,
    # A worker killed mid-task puts the message back at once instead of acknowledging it.
    reject_on_worker_lost=True,
    time_limit=TIME_LIMIT,
    soft_time_limit=840,
)
def run_training_job(self, job_id: int) -> str:
    """Train one job. A delivery that finds the job done does nothing; one that finds it
    RUNNING under a live lease comes back when the lease runs out: either the holder is alive
    (a duplicate delivery, which then finds the job done) or it died (a redelivery after the
    worker was lost, which then claims the job)."""
    job = services.training_job_run(job_id=job_id)
    if job is not None:
        return job.state
    leased_until = services.training_job_leased_until(job_id=job_id)
    if leased_until is None:
        return "skipped"
    wait = (leased_until - timezone.now()).total_seconds()
    # The holder finishes or is killed within the hard time limit, and a live holder renews
    # its lease once per wait: this many waits always outlast it.
    waits = TIME_LIMIT // int(services.training_lease().total_seconds()) + 2
    raise self.retry(countdown=max(1, int(wait) + 1), max_retries=waits)


@shared_task(acks_late=True, time_limit=120, soft_time_limit=100)
def dispatch_queued_training_jobs(older_than_seconds: int = 60) -> int:
    """Beat (every minute): re-dispatch jobs whose broker message was lost and jobs whose
    lease ran out (claiming makes it harmless)."""
    return services.training_jobs_dispatch_queued(
        older_than=dt.timedelta(seconds=older_than_seconds)
    )
