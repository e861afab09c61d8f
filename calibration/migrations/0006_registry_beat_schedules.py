"""Seed the registry's beat schedule: re-dispatch training jobs whose message was lost."""

from django.db import migrations

from governance.beat import seed_interval_task, unseed_tasks

NAME = "calibrator registry: re-dispatch queued training jobs"


def forwards(apps, schema_editor):
    seed_interval_task(
        apps,
        name=NAME,
        task="calibration.tasks.registry.dispatch_queued_training_jobs",
        every=5,
        period="minutes",
    )


def backwards(apps, schema_editor):
    unseed_tasks(apps, NAME)


class Migration(migrations.Migration):
    dependencies = [
        ("calibration", "0005_registry_models"),
        ("governance", "0003_beat_schedules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
