from django.apps import AppConfig


class TripwireConfig(AppConfig):
    name = "tripwire"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The learning stats read the drift alert count through calibration's counters.
        from calibration.registry_sources import register_counter
        from tripwire.services.drift import drift_alert_count

        register_counter("drift_alerts", drift_alert_count)

        # Checkpoints about this app's subjects are decided through their services.
        from tripwire import deciders

        deciders.register()
        from tripwire import settings_kinds  # noqa: F401  (registers the safety settings)
