from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from governance import (
            checks,  # noqa: F401
            settings_kinds,  # noqa: F401  (registers the safety settings)
        )
