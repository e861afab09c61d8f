"""Reviewers and viewers see the learning proofs in the admin; reviewers use the policy
transition buttons (which call the services)."""

from django.db import migrations

VIEW = ["pattern", "incident", "learnedpolicy", "preventionrecord", "regretevent"]
CHANGE = ["learnedpolicy"]


def forwards(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = Permission.objects.filter(content_type__app_label="learning")
    view = perms.filter(codename__in=[f"view_{m}" for m in VIEW])
    change = perms.filter(codename__in=[f"change_{m}" for m in CHANGE])
    viewer, _ = Group.objects.get_or_create(name="viewer")
    viewer.permissions.add(*view)
    reviewer, _ = Group.objects.get_or_create(name="reviewer")
    reviewer.permissions.add(*view, *change)


class Migration(migrations.Migration):
    dependencies = [
        ("learning", "0007_proofs_beat_schedule"),
        ("governance", "0002_default_tenant_groups_ledger_guard"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
