"""Seed django-celery-beat schedules from migrations (editable in the admin afterwards)."""

from __future__ import annotations

import json


def seed_interval_task(
    apps,
    *,
    name: str,
    task: str,
    every: int,
    period: str = "minutes",
    kwargs: dict | None = None,
    enabled: bool = True,
) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    schedule, _ = IntervalSchedule.objects.get_or_create(every=every, period=period)
    PeriodicTask.objects.get_or_create(
        name=name,
        defaults={
            "task": task,
            "interval": schedule,
            "kwargs": json.dumps(kwargs or {}),
            "enabled": enabled,
        },
    )


def seed_crontab_task(
    apps,
    *,
    name: str,
    task: str,
    minute: str = "0",
    hour: str = "*",
    day_of_week: str = "*",
    kwargs: dict | None = None,
    enabled: bool = True,
) -> None:
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_week=day_of_week,
        day_of_month="*",
        month_of_year="*",
        timezone="UTC",
    )
    PeriodicTask.objects.get_or_create(
        name=name,
        defaults={
            "task": task,
            "crontab": schedule,
            "kwargs": json.dumps(kwargs or {}),
            "enabled": enabled,
        },
    )


def unseed_tasks(apps, *names: str) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=names).delete()
