from django.conf import settings
from django.core.checks import Error, Tags, register

from governance.settings.keys import key_problems


@register(Tags.security, deploy=True)
def ledger_key_check(app_configs, **kwargs):
    return [
        Error(problem.message, hint=problem.hint, id=problem.id)
        for problem in key_problems(
            secret_key=settings.SECRET_KEY, ledger_key=settings.LEDGER_SIGNING_KEY
        )
    ]
