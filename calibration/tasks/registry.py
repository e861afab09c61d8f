"""Celery tasks of the calibrator registry: thin, idempotent wrappers around services."""

from __future__ import annotations

import datetime as dt

from celery import shared_task

from calibration.services import registry as services

__all__ = ["dispatch_queued_training_jobs", "run_training_job"]


@shared_task(acks_late=True, time_limit=900, soft_time_limit=840)
def run_training_job(job_id: int) -> str:
    """Train one job. A second delivery finds the job claimed and does nothing."""
    job = services.training_job_run(job_id=job_id)
    return "skipped" if job is None else job.state


@shared_task(acks_late=True, time_limit=120, soft_time_limit=100)
def dispatch_queued_training_jobs(older_than_seconds: int = 300) -> int:
    """Beat: re-dispatch jobs whose broker message was lost (claiming makes it harmless)."""
    return services.training_jobs_dispatch_queued(
        older_than=dt.timedelta(seconds=older_than_seconds)
    )
