from django.apps import AppConfig


class LearningConfig(AppConfig):
    name = "learning"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The calibrator registry (a lower app) trains from learning's SIGNAL_ACCURACY events
        # through this registered sample source, without importing learning.
        from calibration.registry_sources import register_sample_source
        from learning.services.events import signal_accuracy_pairs

        register_sample_source("signal_accuracy", signal_accuracy_pairs)

        # Checkpoints about this app's subjects are decided through their services.
        from learning import deciders

        deciders.register()
        from learning import settings_kinds  # noqa: F401  (registers the safety settings)
