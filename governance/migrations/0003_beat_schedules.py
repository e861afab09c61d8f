from django.db import migrations

from governance.beat import seed_interval_task, unseed_tasks


def forwards(apps, schema_editor):
    seed_interval_task(apps, name="checkpoints: auto-dismiss expired",
                       task="governance.tasks.checkpoints_auto_dismiss", every=15)
    seed_interval_task(apps, name="ledger: anchor chain heads",
                       task="governance.tasks.ledger_anchor_heads", every=5)


def backwards(apps, schema_editor):
    unseed_tasks(apps, "checkpoints: auto-dismiss expired", "ledger: anchor chain heads")


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0002_default_tenant_groups_ledger_guard"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
