"""Reviewers and viewers see the learning loop in the admin; reviewers edit backtest cases
and use the proposal buttons (sandbox, promote), which call the services."""

from django.db import migrations

VIEW = ["backtestcase", "backtestrun", "backtestresult", "failureanalysis", "loopproposal", "sandboxrun"]
REVIEWER = ["add_backtestcase", "change_backtestcase", "change_loopproposal"]


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
    extra = perms.filter(codename__in=REVIEWER)
    viewer, _ = Group.objects.get_or_create(name="viewer")
    viewer.permissions.add(*view)
    reviewer, _ = Group.objects.get_or_create(name="reviewer")
    reviewer.permissions.add(*view, *extra)


class Migration(migrations.Migration):
    dependencies = [
        ("learning", "0009_proofs_drop_decay_index"),
        ("governance", "0002_default_tenant_groups_ledger_guard"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
