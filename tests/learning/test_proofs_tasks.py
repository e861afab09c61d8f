"""The regret decay beat task and its schedule."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from learning.models.proofs import LearnedPolicy
from learning.tasks.proofs import decay_regret
from tests.factories.proofs import LearnedPolicyFactory


@pytest.mark.django_db
def test_the_decay_task_is_scheduled_hourly_by_a_migration():
    task = PeriodicTask.objects.get(name="learning proofs: decay regret")
    assert task.task == "learning.tasks.proofs.decay_regret"
    assert (task.interval.every, task.interval.period) == (1, "hours")
    assert task.enabled


@pytest.mark.django_db
def test_the_decay_task_decays_once_and_then_finds_nothing(tenant):
    two_days_ago = timezone.now() - dt.timedelta(days=2)
    policy = LearnedPolicyFactory(
        tenant=tenant, regret_score=8.0, decay_rate=0.1, last_decayed_at=two_days_ago
    )
    assert decay_regret.apply().get() == 1
    score = LearnedPolicy.objects.get(pk=policy.pk).regret_score
    assert score == pytest.approx(8.0 * 0.9**2, rel=1e-4)
    assert decay_regret.apply().get() in (0, 1)
    assert LearnedPolicy.objects.get(pk=policy.pk).regret_score == pytest.approx(score, rel=1e-6)
