"""Beat tasks of the active learning loop: thin, id-taking, safe to run twice."""

from celery import shared_task

from governance.models import ConfigVersion, Tenant, VersionState
from learning.services.loop import FAMILY, backtest_run_nightly, learning_loop_nightly

TASK_OPTIONS = {"acks_late": True, "time_limit": 1800, "soft_time_limit": 1700}


@shared_task(**TASK_OPTIONS)
def backtest_nightly() -> int:
    """Fans out one backtest run of the ACTIVE scoring version per tenant."""
    tenant_ids = list(
        ConfigVersion.objects.filter(family__name=FAMILY, state=VersionState.ACTIVE)
        .values_list("tenant_id", flat=True)
        .distinct()
    )
    for tenant_id in tenant_ids:
        backtest_run_tenant.delay(tenant_id)
    return len(tenant_ids)


@shared_task(**TASK_OPTIONS)
def backtest_run_tenant(tenant_id: int) -> str | None:
    """Once per ACTIVE version per UTC day (an idempotency key guards a second delivery)."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return None
    run = backtest_run_nightly(tenant=tenant)
    return run.run_id if run else None


@shared_task(**TASK_OPTIONS)
def learning_loop() -> dict:
    """analyze -> propose -> sandbox for every tenant; never promotes (a reviewer does)."""
    return learning_loop_nightly()
