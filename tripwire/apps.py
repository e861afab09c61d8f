from django.apps import AppConfig


class TripwireConfig(AppConfig):
    name = "tripwire"
    default_auto_field = "django.db.models.BigAutoField"
