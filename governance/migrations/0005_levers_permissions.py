"""Reviewers and viewers see the control levers in the admin; reviewers change them (through
the services, which write the ledger)."""

from django.db import migrations

VIEW = ["golivestate", "riskpolicy", "riskday", "riskreservation", "charterpolicy",
        "sandboxtrial"]
CHANGE = ["golivestate", "riskpolicy", "charterpolicy"]
ADD = ["riskpolicy", "charterpolicy"]


def forwards(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = Permission.objects.filter(content_type__app_label="governance")
    view = perms.filter(codename__in=[f"view_{m}" for m in VIEW])
    change = perms.filter(
        codename__in=[f"change_{m}" for m in CHANGE] + [f"add_{m}" for m in ADD]
    )
    viewer, _ = Group.objects.get_or_create(name="viewer")
    viewer.permissions.add(*view)
    reviewer, _ = Group.objects.get_or_create(name="reviewer")
    reviewer.permissions.add(*view, *change)


class Migration(migrations.Migration):

    dependencies = [("governance", "0004_levers_models")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
