from django.db import migrations

from governance.beat import seed_crontab_task, unseed_tasks

BACKTEST = "learning loop: nightly backtest of the ACTIVE scoring config"
LOOP = "learning loop: analyze, propose, sandbox (no auto-promotion)"


def forwards(apps, schema_editor):
    seed_crontab_task(apps, name=BACKTEST, task="learning.tasks.loop.backtest_nightly",
                      minute="0", hour="2")
    seed_crontab_task(apps, name=LOOP, task="learning.tasks.loop.learning_loop",
                      minute="30", hour="3")


def backwards(apps, schema_editor):
    unseed_tasks(apps, BACKTEST, LOOP)


class Migration(migrations.Migration):
    dependencies = [
        ("learning", "0002_loop_models"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
