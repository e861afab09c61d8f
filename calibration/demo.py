"""Demo story for calibration: a crowded threshold and the pending proposal it produces.

A week of decisions crowds the LOW|MEDIUM boundary at 0.40 and is over-confident where
confident; the offline pipeline (collect -> analyze -> propose) finds both and registers a
scoring proposal in PENDING_APPROVAL that moves the crowded threshold. Idempotent: the
decisions carry fixed client ids and the pipeline runs only while no proposal exists."""

from __future__ import annotations

import datetime as dt
import random

from django.contrib.auth import get_user_model

from calibration.models import ConfigProposal, Decision
from calibration.scoring import score
from calibration.services.pipeline import calibration_pipeline_run, decisions_record
from governance.models import Tenant
from governance.selectors import active_version
from governance.services.ledger import Actor
from governance.services.versions import version_activate, version_approve, version_register

DEMO_SCORING = {
    "weights": {"risk_signal": 0.6, "velocity": 0.4},
    "bias": 0.0,
    "bands": ["LOW", "MEDIUM", "HIGH"],
    "thresholds": [0.4, 0.7],
    "flag_rules": [
        {"name": "velocity_spike", "feature": "velocity", "operator": ">=", "value": 0.9}
    ],
    "escalate_on": ["velocity_spike"],
    "min_confidence": 0.05,
    "confidence_margin": 0.1,
}
DECISIONS = 900
WINDOW_DAYS = 7


def _a_reviewer(tenant: Tenant):
    users = get_user_model().objects.filter(memberships__tenant=tenant, is_active=True)
    ordered = users.order_by("is_superuser", "username")  # a reviewer before an administrator
    return next((u for u in ordered if u.has_perm("governance.review")), None)


def ensure_active_scoring(*, tenant: Tenant, now: dt.datetime):
    """The tenant's ACTIVE scoring version; a first one is registered, approved and
    activated when there is none (by the system and the tenant's first reviewer)."""
    active = active_version(tenant_id=tenant.pk, family="scoring")
    if active is not None:
        return active
    reviewer = _a_reviewer(tenant)
    if reviewer is None:
        return None
    version = version_register(
        tenant=tenant,
        family="scoring",
        version="1.0.0",
        payload=DEMO_SCORING,
        actor=Actor.system("demo"),
        description="Initial scoring config",
        submit=True,
        now=now,
    )
    version_approve(version=version, user=reviewer, reason="demo: initial config", now=now)
    return version_activate(version=version, user=reviewer, reason="demo: go", now=now)


def demo_decisions(payload: dict, now: dt.datetime) -> list[dict]:
    rng = random.Random(20261124)
    rows = []
    for i in range(DECISIONS):
        crowd = i % 5 < 2  # two in five sit at the LOW|MEDIUM boundary
        target = rng.uniform(0.385, 0.415) if crowd else rng.uniform(0.05, 0.95)
        velocity = 0.95 if i % 23 == 0 else target
        result = score(
            payload, {"risk_signal": (target - 0.4 * velocity) / 0.6, "velocity": velocity}
        )
        # Over-confident where confident: accuracy tops out near 80%.
        correct = rng.random() < 0.5 + 0.3 * result.confidence
        rows.append(
            {
                "client_id": f"demo-{i:05d}",
                "score": result.score,
                "band": result.band,
                "confidence": result.confidence,
                "abstained": result.abstained,
                "escalated": result.escalate,
                "flags": list(result.flags),
                "decided_at": now
                - dt.timedelta(minutes=(WINDOW_DAYS * 24 * 60 - 30) * (i + 1) / DECISIONS),
                "was_correct": correct,
            }
        )
    return rows


def seed(*, tenant: Tenant, now: dt.datetime) -> None:
    active = ensure_active_scoring(tenant=tenant, now=now - dt.timedelta(days=WINDOW_DAYS + 1))
    if active is None:
        return
    if not Decision.objects.filter(tenant=tenant, client_id="demo-00000").exists():
        rows = demo_decisions(active.payload, now)
        for row in rows:
            row["config_version"] = active.version
        decisions_record(tenant=tenant, rows=rows, now=now)
    if not ConfigProposal.objects.filter(tenant=tenant).exists():
        calibration_pipeline_run(
            tenant=tenant,
            actor=Actor.system("demo"),
            window_days=WINDOW_DAYS,
            export=False,
            now=now,
        )
