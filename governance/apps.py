from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # checks registers the system checks; deciders, how the queue decides this app's
        # subjects (through their services); settings_kinds, the safety settings it governs.
        from governance import checks, deciders, settings_kinds  # noqa: F401

        deciders.register()
