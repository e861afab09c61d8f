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


@register(deploy=True)
def broker_visibility_check(app_configs, **kwargs):
    """With acks_late on Redis, a message unacknowledged for ``visibility_timeout`` is handed
    to another worker: below the longest task time limit, a task still running would be
    delivered twice. Re-claiming a dead worker's work is the leases' job, not the broker's."""
    if not str(settings.CELERY_BROKER_URL).startswith(("redis://", "rediss://")):
        return []
    from governance.celery import app

    app.loader.import_default_modules()
    limits = [settings.CELERY_TASK_TIME_LIMIT]
    limits += [task.time_limit for task in app.tasks.values() if task.time_limit]
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    if visibility <= max(limits):
        return [
            Error(
                f"the broker's visibility_timeout ({visibility} s) does not exceed the longest "
                f"task time limit ({max(limits)} s)",
                hint="Raise CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'].",
                id="govloop.E005",
            )
        ]
    return []
