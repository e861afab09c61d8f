"""Demo story for tripwire: a KPI tripwire about to fire.

``checkout.approval_rate`` (KILL_SWITCH at a 20% drop) has a baseline near 90% and a recent
window near 76%: a 16% drop, close to the line. The README's walkthrough records a few more
failures and evaluates it, which engages the kill switch for a reviewer to clear. Idempotent:
events carry fixed ``event_id``s and the policy is upserted."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model

from governance.models import GoLiveState, Tenant
from governance.services.ledger import Actor
from governance.services.levers import go_live_enable
from tripwire.models import RegressionPolicy
from tripwire.services.regression import kpi_ingest, regression_evaluate, regression_policy_upsert

DOMAIN, METRIC = "checkout", "approval_rate"
BASELINE_EVENTS, WINDOW_EVENTS = 200, 50


def demo_kpi_events(now: dt.datetime) -> list[dict]:
    """200 baseline events at 90% success, then 50 recent ones at 76%, one a minute."""
    start = now - dt.timedelta(minutes=BASELINE_EVENTS + WINDOW_EVENTS)
    events = []
    for i in range(BASELINE_EVENTS + WINDOW_EVENTS):
        in_window = i >= BASELINE_EVENTS
        # 6 failures in every 25 recent events, spread out: a 76% success rate.
        position = (i - BASELINE_EVENTS) % 25
        success = not (position % 4 == 0 and position <= 20) if in_window else i % 10 != 0
        events.append(
            {
                "domain": DOMAIN,
                "metric": METRIC,
                "success": success,
                "event_id": f"demo-kpi-{i:04d}",
                "created_at": (start + dt.timedelta(minutes=i)).isoformat(),
            }
        )
    return events


def _a_reviewer(tenant: Tenant):
    users = get_user_model().objects.filter(memberships__tenant=tenant, is_active=True)
    ordered = users.order_by("is_superuser", "username")  # a reviewer before an administrator
    return next((u for u in ordered if u.has_perm("governance.review")), None)


def seed(*, tenant: Tenant, now: dt.datetime) -> None:
    actor = Actor.system("demo")
    if not GoLiveState.objects.filter(tenant=tenant).exists():
        reviewer = _a_reviewer(tenant)
        if reviewer is not None:
            go_live_enable(
                tenant=tenant,
                actor=Actor.for_user(reviewer),
                reason="demo: production execution allowed for the walkthrough",
                now=now,
            )
    policy = RegressionPolicy.objects.filter(tenant=tenant, domain=DOMAIN, metric=METRIC).first()
    if policy is None:
        policy = regression_policy_upsert(
            tenant=tenant,
            domain=DOMAIN,
            metric=METRIC,
            actor=actor,
            reason="demo: the walkthrough's tripwire",
            now=now,
            kind="success",
            enabled=True,
            window_events=WINDOW_EVENTS,
            baseline_events=BASELINE_EVENTS,
            max_drop_fraction=0.20,
            action="KILL_SWITCH",
        ).applied
        kpi_ingest(tenant=tenant, items=demo_kpi_events(now), now=now)
        regression_evaluate(policy=policy, now=now, requested_by=actor)
