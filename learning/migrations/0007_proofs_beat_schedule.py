"""Seed the hourly regret decay of learned policies."""

from django.db import migrations

from governance.beat import seed_interval_task, unseed_tasks

NAME = "learning proofs: decay regret"


def forwards(apps, schema_editor):
    seed_interval_task(
        apps, name=NAME, task="learning.tasks.proofs.decay_regret", every=1, period="hours"
    )


def backwards(apps, schema_editor):
    unseed_tasks(apps, NAME)


class Migration(migrations.Migration):
    dependencies = [
        ("learning", "0006_events_beat_schedules"),
        ("governance", "0003_beat_schedules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
