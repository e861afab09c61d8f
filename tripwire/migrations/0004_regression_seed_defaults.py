"""The seed's four default regression policies for the `default` tenant (all disabled, the
safest start), the beat schedule that evaluates enabled policies, and the reviewer/viewer
permissions on the tripwire's regression models."""

from django.db import migrations

from governance.beat import seed_interval_task, unseed_tasks

BEAT_NAME = "tripwire: evaluate regression policies"

DEFAULT_POLICIES = [
    {"domain": "WHOLESALE", "metric": "contract_rate", "kind": "success",
     "max_drop_fraction": 0.20, "action": "THROTTLE"},
    {"domain": "WHOLESALE", "metric": "offer_accept_rate", "kind": "success",
     "max_drop_fraction": 0.15, "action": "THROTTLE"},
    {"domain": "BUYER_MATCH", "metric": "match_success", "kind": "success",
     "max_drop_fraction": 0.25, "action": "THROTTLE"},
    {"domain": "CAPITAL", "metric": "roi_event", "kind": "value",
     "max_drop_fraction": 0.30, "action": "KILL_SWITCH"},
]

VIEW = ["kpievent", "regressionpolicy", "regressionstate"]
CHANGE = ["regressionpolicy", "regressionstate"]


def forwards(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Tenant = apps.get_model("governance", "Tenant")
    Policy = apps.get_model("tripwire", "RegressionPolicy")
    State = apps.get_model("tripwire", "RegressionState")
    tenant = Tenant.objects.filter(slug="default").first()
    if tenant is not None:
        for values in DEFAULT_POLICIES:
            policy, _ = Policy.objects.get_or_create(
                tenant=tenant,
                domain=values["domain"],
                metric=values["metric"],
                defaults={**values, "enabled": False, "window_events": 50,
                          "baseline_events": 200, "changed_by": "system:migration"},
            )
            State.objects.get_or_create(policy=policy)

    seed_interval_task(apps, name=BEAT_NAME,
                       task="tripwire.tasks.regression.regression_evaluate_all", every=5)

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.filter(content_type__app_label="tripwire",
                                     codename__in=[f"view_{m}" for m in VIEW])
    change = Permission.objects.filter(content_type__app_label="tripwire",
                                       codename__in=[f"change_{m}" for m in CHANGE])
    for name in ("viewer", "reviewer"):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*view)
        if name == "reviewer":
            group.permissions.add(*change)


def backwards(apps, schema_editor):
    unseed_tasks(apps, BEAT_NAME)


class Migration(migrations.Migration):

    dependencies = [
        ("tripwire", "0003_regression_state_last_event"),
        ("governance", "0004_levers_models"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
