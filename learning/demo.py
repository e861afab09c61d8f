"""Demo story for learning: a learned policy close to demotion, and a failing backtest case.

- ``block-card-testing`` was born from an incident, proved itself once (gate 1), then caused
  harm twice: its regret score sits near 8 of the 10 that demote it automatically, with two
  of its three allowed regret events used.
- The backtest suite grew over four days; its newest case, ``borderline-medium`` (score
  0.372 expected MEDIUM), is a MISS under the active thresholds: the input of the active
  learning loop (``manage.py learning run-loop``).

- ``signal-confidence``, a Platt calibrator trained on 2,000 recorded signal outcomes whose
  raw confidence is over-stated, evaluated against its thresholds and promoted to
  PRODUCTION: its page shows the reliability diagram before and after calibration.

Idempotent: each part is skipped when its first record exists."""

from __future__ import annotations

import datetime as dt
import random

from django.contrib.auth import get_user_model

from calibration.demo import ensure_active_scoring
from calibration.models import CalibratorModel
from calibration.services.registry import (
    calibrator_evaluate,
    calibrator_promote,
    training_job_run,
    training_job_submit,
)
from governance.models import Tenant
from governance.services.ledger import Actor
from learning.models import BacktestRun, LearnedPolicy
from learning.services.events import events_record
from learning.services.loop import backtest_cases_import, backtest_run_execute
from learning.services.proofs import (
    incident_record,
    policy_activate,
    policy_create_from_incident,
    prevention_record,
    regret_record,
)

POLICY_NAME = "block-card-testing"
CALIBRATOR_NAME = "signal-confidence"
SIGNALS = 2000

# (day the case joined the suite, case)
BACKTEST_CASES = [
    (
        -4,
        {
            "case_id": "clear-low",
            "features": {"risk_signal": 0.1, "velocity": 0.1},
            "expected_decision": "LOW",
            "protected": True,
        },
    ),
    (
        -4,
        {
            "case_id": "steady-medium",
            "features": {"risk_signal": 0.5, "velocity": 0.5},
            "expected_decision": "MEDIUM",
        },
    ),
    (
        -4,
        {
            "case_id": "clear-high",
            "features": {"risk_signal": 0.9, "velocity": 0.8},
            "expected_decision": "HIGH",
        },
    ),
    (
        -4,
        {
            "case_id": "velocity-spike",
            "features": {"risk_signal": 0.9, "velocity": 0.95},
            "expected_decision": "HIGH",
            "expected_flags": ["velocity_spike"],
            "expected_escalate": True,
            "protected": True,
        },
    ),
    (
        -3,
        {
            "case_id": "upper-medium",
            "features": {"risk_signal": 0.6, "velocity": 0.55},
            "expected_decision": "MEDIUM",
        },
    ),
    (
        -3,
        {
            "case_id": "quiet-low",
            "features": {"risk_signal": 0.2, "velocity": 0.3},
            "expected_decision": "LOW",
            "protected": True,
        },
    ),
    (
        -2,
        {
            "case_id": "lower-medium",
            "features": {"risk_signal": 0.45, "velocity": 0.45},
            "expected_decision": "MEDIUM",
        },
    ),
    (
        -1,
        {
            "case_id": "borderline-medium",
            "features": {"risk_signal": 0.42, "velocity": 0.3},
            "expected_decision": "MEDIUM",
            "description": "card testing just under the LOW|MEDIUM boundary",
        },
    ),
]


def _a_reviewer(tenant: Tenant):
    users = get_user_model().objects.filter(memberships__tenant=tenant, is_active=True)
    ordered = users.order_by("is_superuser", "username")  # a reviewer before an administrator
    return next((u for u in ordered if u.has_perm("governance.review")), None)


def _seed_policy(tenant: Tenant, now: dt.datetime, reviewer) -> None:
    actor = Actor.system("demo")
    incident = incident_record(
        tenant=tenant,
        pattern_key="card-testing",
        pattern_name="Card testing bursts",
        signature="card-testing:burst-of-small-auths",
        severity=7,
        title="Burst of small authorisations from one device",
        occurred_at=now - dt.timedelta(days=10),
        actor=actor,
        now=now - dt.timedelta(days=10),
    )
    policy = policy_create_from_incident(
        incident=incident, name=POLICY_NAME, actor=actor, now=now - dt.timedelta(days=9)
    )
    policy = policy_activate(
        policy=policy,
        user=reviewer,
        reason="demo: shadow results were clean",
        now=now - dt.timedelta(days=8),
    )
    prevention_record(
        policy=policy,
        outcome="PREVENTED",
        signature_match_confidence=0.93,
        blocked_signature="card-testing:burst-of-small-auths",
        calls_evaluated=1200,
        actor=actor,
        now=now - dt.timedelta(days=6),
    )
    regret_record(
        policy=policy,
        regret_type="false_positive",
        severity=5,
        description="blocked a merchant's legitimate batch of refunds",
        affected_calls=140,
        actor=actor,
        now=now - dt.timedelta(days=2),
    )
    regret_record(
        policy=policy,
        regret_type="user_override",
        severity=4,
        description="support overrode it for a top customer",
        affected_calls=12,
        actor=actor,
        now=now - dt.timedelta(hours=6),
    )


def _seed_backtests(tenant: Tenant, now: dt.datetime) -> None:
    actor = Actor.system("demo")
    for day in sorted({day for day, _ in BACKTEST_CASES}):
        moment = now + dt.timedelta(days=day)
        joined = [case for d, case in BACKTEST_CASES if d == day]
        backtest_cases_import(tenant=tenant, records=joined, actor=actor, now=moment)
        backtest_run_execute(tenant=tenant, actor=actor, now=moment + dt.timedelta(hours=1))


def demo_signals(now: dt.datetime) -> list[dict]:
    """Signal outcomes whose stated confidence overstates their hit rate."""
    rng = random.Random(4)
    events = []
    for i in range(SIGNALS):
        confidence = round(rng.uniform(0.3, 0.99), 3)
        events.append(
            {
                "event_type": "signal_accuracy",
                "source_engine": "signals",
                "subject": "demo",
                "timestamp": (now - dt.timedelta(minutes=5 * (SIGNALS - i))).isoformat(),
                "payload": {
                    "confidence": confidence,
                    "win": rng.random() < 0.15 + 0.6 * confidence,
                },
                "event_id": f"demo-signal-{i:05d}",
            }
        )
    return events


def _seed_calibrator(tenant: Tenant, now: dt.datetime, reviewer) -> None:
    actor = Actor.system("demo")
    events_record(tenant=tenant, items=demo_signals(now), now=now)
    job = training_job_submit(
        tenant=tenant,
        model_name=CALIBRATOR_NAME,
        method="platt_scaling",
        actor=actor,
        min_samples=500,
        dispatch=False,
        now=now,
    )
    job = training_job_run(job_id=job.pk, system="demo", now=now)
    version = job.model.versions.order_by("-number").first()
    metrics = {name: version.metrics[name] for name in ("brier_score", "log_loss", "ece")}
    calibrator_evaluate(
        version=version,
        benchmark_name="demo-holdout",
        metrics=metrics,
        thresholds={"brier_score": 0.25, "log_loss": 0.7, "ece": 0.05},
        actor=actor,
        now=now,
    )
    calibrator_promote(version=version, target_stage="STAGING", actor=actor, now=now)
    calibrator_promote(
        version=version,
        target_stage="PRODUCTION",
        actor=Actor.for_user(reviewer),
        reason="demo: evaluation passed",
        now=now,
    )


def seed(*, tenant: Tenant, now: dt.datetime) -> None:
    reviewer = _a_reviewer(tenant)
    if ensure_active_scoring(tenant=tenant, now=now - dt.timedelta(days=8)) is None:
        return
    if (
        reviewer is not None
        and not LearnedPolicy.objects.filter(tenant=tenant, name=POLICY_NAME).exists()
    ):
        _seed_policy(tenant, now, reviewer)
    if not BacktestRun.objects.filter(tenant=tenant).exists():
        _seed_backtests(tenant, now)
    if (
        reviewer is not None
        and not CalibratorModel.objects.filter(tenant=tenant, name=CALIBRATOR_NAME).exists()
    ):
        _seed_calibrator(tenant, now, reviewer)
