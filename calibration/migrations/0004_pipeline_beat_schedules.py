"""Seed the beat schedules of calibration: the weekly pipeline of every existing tenant
(tenants created later get theirs on creation) and the hourly pattern recalibration."""

from django.db import migrations

from governance.beat import seed_crontab_task, seed_interval_task, unseed_tasks

PIPELINE_TASK = "calibration.tasks.pipeline.calibration_pipeline_scheduled"
RECALIBRATE = "patterns: recalibrate thresholds with new outcomes"


def forwards(apps, schema_editor):
    Tenant = apps.get_model("governance", "Tenant")
    for tenant in Tenant.objects.all():
        seed_crontab_task(
            apps,
            name=f"calibration pipeline: {tenant.slug}",
            task=PIPELINE_TASK,
            minute="0",
            hour="3",
            day_of_week="1",
            kwargs={"tenant_id": tenant.pk},
        )
    seed_interval_task(
        apps,
        name=RECALIBRATE,
        task="calibration.tasks.patterns.patterns_recalibrate_pending",
        every=1,
        period="hours",
    )


def backwards(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task=PIPELINE_TASK).delete()
    unseed_tasks(apps, RECALIBRATE)


class Migration(migrations.Migration):
    dependencies = [
        ("calibration", "0003_pipeline_models"),
        ("governance", "0003_beat_schedules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
