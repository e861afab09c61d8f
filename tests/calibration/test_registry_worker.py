"""A training job whose worker process is killed mid-training, run by a real Celery worker
against the test database and Redis."""

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from calibration.models import TrainingJob, TrainingJobState
from calibration.services import registry as services
from governance.services.ledger import Actor
from tests.calibration import worker_sources  # noqa: F401 (registers test_hangs_once)
from tests.governance.test_tasks import database_url


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_job_whose_worker_process_is_killed_finishes_within_two_minutes(tenant, tmp_path):
    marker = tmp_path / "hanging-pid"
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "governance.settings.test",
        "GOVLOOP_TEST_HANG_MARKER": str(marker),
        # A short lease keeps the test short; the mechanism is the one of the 45 s default.
        "TRAINING_JOB_LEASE_SECONDS": "6",
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "governance",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            "1",
            "--queues",
            queue,
            "--include",
            "tests.calibration.worker_sources",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
        ],
        env=env,
        stdout=open(tmp_path / "worker.log", "wb"),  # noqa: SIM115 (closed with the process)
        stderr=subprocess.STDOUT,
    )
    try:
        job = services.training_job_submit(
            tenant=tenant,
            model_name="confidence_calibrator",
            method="platt_scaling",
            actor=Actor.system("test"),
            sample_source="test_hangs_once",
            min_samples=500,
            dispatch=False,
        )
        from calibration.tasks.registry import run_training_job

        run_training_job.apply_async(args=[job.pk], queue=queue)
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.2)
        assert marker.exists(), "the worker never started training"
        # Kill the pool process that trains (the way the OOM killer does): the job is RUNNING
        # under a lease that nobody renews any more.
        os.kill(int(marker.read_text()), signal.SIGKILL)
        killed_at = time.monotonic()
        job.refresh_from_db()
        assert job.state == TrainingJobState.RUNNING
        while time.monotonic() - killed_at < 120 and worker.poll() is None:
            job.refresh_from_db()
            if job.state != TrainingJobState.RUNNING:
                break
            time.sleep(0.5)
        took = time.monotonic() - killed_at
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    log = (tmp_path / "worker.log").read_text(errors="replace")
    job = TrainingJob.objects.get(pk=job.pk)
    assert job.state == TrainingJobState.SUCCEEDED, log[-3000:]
    assert job.attempts == 2
    assert took < 120
