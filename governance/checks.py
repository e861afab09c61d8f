from django.conf import settings
from django.core.checks import Warning, register


@register(deploy=True)
def ledger_key_check(app_configs, **kwargs):
    if settings.LEDGER_SIGNING_KEY == settings.SECRET_KEY:
        return [
            Warning(
                "LEDGER_SIGNING_KEY equals SECRET_KEY",
                hint="Give the ledger its own key so rotating one does not void the other.",
                id="govloop.W001",
            )
        ]
    return []
