import datetime as dt

import pytest
from django_celery_beat.models import PeriodicTask

from calibration.models import MetricsSnapshot
from calibration.tasks.pipeline import calibration_pipeline_scheduled
from tests.calibration.conftest import one_feature_payload
from tests.factories.calibration import make_decisions


@pytest.mark.django_db
def test_the_weekly_task_runs_the_pipeline_once_when_delivered_twice(
    tenant, activate_scoring, settings, tmp_path
):
    settings.GOVLOOP_ARTIFACT_DIR = tmp_path
    activate_scoring(one_feature_payload())
    make_decisions(tenant, [0.1, 0.5, 0.8] * 10, decided_at=dt.datetime.now(dt.UTC))

    first = calibration_pipeline_scheduled.apply(kwargs={"tenant_id": tenant.pk}).get()
    second = calibration_pipeline_scheduled.apply(kwargs={"tenant_id": tenant.pk}).get()

    assert first in ("PROPOSED", "NOTHING_TO_PROPOSE")
    assert second == "skipped"
    assert MetricsSnapshot.objects.filter(tenant=tenant).count() == 1
    assert any((tmp_path / tenant.slug).iterdir())


@pytest.mark.django_db
def test_the_hourly_recalibration_schedule_is_seeded():
    task = PeriodicTask.objects.get(task="calibration.tasks.patterns.patterns_recalibrate_pending")
    assert (task.interval.every, task.interval.period) == (1, "hours")
