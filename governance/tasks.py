"""Thin beat tasks: each calls one service and is safe to run twice or concurrently."""

from celery import shared_task

from governance.services.checkpoints import checkpoint_auto_dismiss_expired
from governance.services.ledger import ledger_anchor_all
from governance.services.rollouts import rollouts_analyze_running, rollouts_start_due

TASK_OPTIONS = {"acks_late": True, "time_limit": 300, "soft_time_limit": 240}


@shared_task(**TASK_OPTIONS)
def checkpoints_auto_dismiss() -> int:
    return checkpoint_auto_dismiss_expired()


@shared_task(**TASK_OPTIONS)
def ledger_anchor_heads() -> int:
    return ledger_anchor_all()


@shared_task(**TASK_OPTIONS)
def rollouts_analyze() -> int:
    return rollouts_analyze_running()


@shared_task(**TASK_OPTIONS)
def rollouts_start_scheduled() -> int:
    return rollouts_start_due()
