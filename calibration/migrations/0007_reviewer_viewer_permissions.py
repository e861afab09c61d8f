"""Reviewers and viewers read every calibration page the control room links to (snapshots,
reports and their findings, proposals, decisions, pattern calibrations, the calibrator
registry). Reading only: promotions and registry settings stay with the superusers."""

from django.db import migrations

VIEW = [
    "decision",
    "metricssnapshot",
    "calibrationreport",
    "calibrationfinding",
    "configproposal",
    "patterncalibration",
    "patternoutcome",
    "calibratorregistryconfig",
    "calibratormodel",
    "trainingjob",
    "calibratorversion",
    "calibratorevaluation",
]


def forwards(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.filter(
        content_type__app_label="calibration", codename__in=[f"view_{m}" for m in VIEW]
    )
    for name in ("viewer", "reviewer"):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*view)


class Migration(migrations.Migration):
    dependencies = [
        ("calibration", "0006_registry_beat_schedules"),
        ("governance", "0002_default_tenant_groups_ledger_guard"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
