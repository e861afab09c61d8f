"""The beat tasks, run by a real Celery worker process against the test database."""

import datetime as dt
import os
import subprocess
import sys
import time
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from governance.models import Checkpoint, CheckpointConfig, CheckpointState
from governance.services.checkpoints import checkpoint_open
from governance.tasks import checkpoints_auto_dismiss, ledger_anchor_heads
from tests.factories import TenantFactory


def database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_auto_dismiss_task_against_the_database(tmp_path):
    tenant = TenantFactory(slug="worker")
    CheckpointConfig.objects.create(tenant=tenant, auto_dismiss_hours=1)
    expired = checkpoint_open(
        tenant=tenant,
        checkpoint_type="custom",
        description="nobody looked",
        now=timezone.now() - dt.timedelta(hours=2),
    )
    blocking = checkpoint_open(
        tenant=tenant,
        checkpoint_type="custom",
        description="must be seen",
        blocking=True,
        now=timezone.now() - dt.timedelta(hours=2),
    )
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "governance.settings.test",
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
            "solo",
            "--queues",
            queue,
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
        checkpoints_auto_dismiss.apply_async(queue=queue)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and worker.poll() is None:
            expired.refresh_from_db()
            if expired.state != CheckpointState.PENDING:
                break
            time.sleep(0.5)
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert expired.state == CheckpointState.AUTO_DISMISSED, log[-3000:]
    blocking.refresh_from_db()
    assert blocking.state == CheckpointState.PENDING
    assert "governance.tasks.checkpoints_auto_dismiss" in log


@pytest.mark.django_db
def test_the_anchor_task_anchors_every_unanchored_head(tenant):
    from governance.services.ledger import Actor, ledger_append

    ledger_append(tenant=tenant, kind="benchmark.event", actor=Actor.system("t"))

    assert ledger_anchor_heads.apply().get() == 1
    assert ledger_anchor_heads.apply().get() == 0
    assert Checkpoint.objects.count() == 0
