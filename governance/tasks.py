"""Thin beat tasks: each calls one service and is safe to run twice or concurrently."""

from celery import shared_task

from governance.services.checkpoints import checkpoint_auto_dismiss_expired
from governance.services.ledger import ledger_anchor_all
from governance.services.rollouts import rollouts_analyze_running, rollouts_start_due
from governance.shared_cache import cache_delete_many

TASK_OPTIONS = {"acks_late": True, "time_limit": 300, "soft_time_limit": 240}


@shared_task(**TASK_OPTIONS)
def checkpoints_auto_dismiss() -> int:
    return checkpoint_auto_dismiss_expired()


@shared_task(**TASK_OPTIONS)
def ledger_anchor_heads() -> int:
    return ledger_anchor_all()


class CacheUnavailable(Exception):
    pass


@shared_task(
    acks_late=True,
    time_limit=30,
    soft_time_limit=20,
    autoretry_for=(CacheUnavailable,),
    max_retries=10,
    retry_backoff=1,
    retry_backoff_max=60,
)
def cache_invalidate(keys: list[str]) -> None:
    """The retry of a cache invalidation that failed after its change committed (deleting a
    key twice is harmless)."""
    if not cache_delete_many(keys):
        raise CacheUnavailable(f"could not delete {keys}")


@shared_task(**TASK_OPTIONS)
def rollouts_analyze() -> int:
    return rollouts_analyze_running()


@shared_task(**TASK_OPTIONS)
def rollouts_start_scheduled() -> int:
    return rollouts_start_due()
