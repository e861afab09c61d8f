"""Seed the daily retention prune of learning events."""

from django.db import migrations

from governance.beat import seed_crontab_task, unseed_tasks

NAME = "learning events: prune past retention"


def forwards(apps, schema_editor):
    seed_crontab_task(
        apps,
        name=NAME,
        task="learning.tasks.events.prune_learning_events",
        minute="30",
        hour="2",
    )


def backwards(apps, schema_editor):
    unseed_tasks(apps, NAME)


class Migration(migrations.Migration):
    dependencies = [
        ("learning", "0005_events_models"),
        ("governance", "0003_beat_schedules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
