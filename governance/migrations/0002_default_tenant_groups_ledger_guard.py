from django.db import migrations

# Reviewers decide; viewers only look. Model permissions are per app label + codename.
VIEW_MODELS = [
    "tenant", "membership", "ledgerentry", "ledgeranchor", "configfamily", "configversion",
    "versionapproval", "checkpoint", "checkpointconfig",
]
REVIEWER_EXTRA = ["review", "change_configversion", "change_checkpoint", "change_checkpointconfig",
                  "change_configfamily"]

LEDGER_GUARD_SQL = """
CREATE OR REPLACE FUNCTION govloop_ledger_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'governance_ledgerentry is append-only (%% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS govloop_ledger_append_only ON governance_ledgerentry;
CREATE TRIGGER govloop_ledger_append_only
    BEFORE UPDATE OR DELETE ON governance_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION govloop_ledger_refuse_change();
"""

LEDGER_GUARD_REVERSE = """
DROP TRIGGER IF EXISTS govloop_ledger_append_only ON governance_ledgerentry;
DROP FUNCTION IF EXISTS govloop_ledger_refuse_change();
"""


def forwards(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Tenant = apps.get_model("governance", "Tenant")
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    Tenant.objects.get_or_create(slug="default", defaults={"name": "Default tenant"})

    view = Permission.objects.filter(
        content_type__app_label="governance", codename__in=[f"view_{m}" for m in VIEW_MODELS]
    )
    extra = Permission.objects.filter(content_type__app_label="governance", codename__in=REVIEWER_EXTRA)
    viewer, _ = Group.objects.get_or_create(name="viewer")
    viewer.permissions.add(*view)
    reviewer, _ = Group.objects.get_or_create(name="reviewer")
    reviewer.permissions.add(*view, *extra)

    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(LEDGER_GUARD_SQL)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(LEDGER_GUARD_REVERSE)


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
