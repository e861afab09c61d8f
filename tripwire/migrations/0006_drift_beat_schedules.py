"""Seed the hourly drift check of production calibrators."""

from django.db import migrations

from governance.beat import seed_interval_task, unseed_tasks

NAME = "drift: check production calibrators"


def forwards(apps, schema_editor):
    seed_interval_task(
        apps,
        name=NAME,
        task="tripwire.tasks.drift.check_production_drift",
        every=1,
        period="hours",
    )


def backwards(apps, schema_editor):
    unseed_tasks(apps, NAME)


class Migration(migrations.Migration):
    dependencies = [
        ("tripwire", "0005_drift_models"),
        ("governance", "0003_beat_schedules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
