"""Chart pages for learning: a policy's regret score over time with its demotion line, and
the pass rate of a tenant's backtest runs over time."""

from __future__ import annotations

import datetime as dt

from django.contrib import admin
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils import timezone

from governance import charts
from governance.control_room import Row, Section, admin_url
from governance.models import Tenant
from governance.pages import render_chart_page, require_visible
from learning.models import BacktestRun, LearnedPolicy
from learning.models.proofs import decayed_score
from learning.selectors_proofs import current_regret_score

STEPS_BETWEEN_EVENTS = 8
MAX_RUNS = 200


def regret_series(policy: LearnedPolicy, now: dt.datetime) -> list[tuple[dt.datetime, float]]:
    """The score replayed from the policy's regret events since its birth or last
    reinstatement, decaying between them exactly as the decay task does."""
    start = policy.reinstated_at or policy.born_at
    events = policy.regret_events.filter(created_at__gte=start).order_by("created_at", "id")
    points = [(start, 0.0)]
    score, at = 0.0, start

    def decay_to(moment: dt.datetime) -> None:
        nonlocal score, at
        span = moment - at
        for step in range(1, STEPS_BETWEEN_EVENTS + 1):
            t = at + span * step / STEPS_BETWEEN_EVENTS
            points.append(
                (t, decayed_score(score=score, decay_rate=policy.decay_rate, since=at, now=t))
            )
        score = decayed_score(score=score, decay_rate=policy.decay_rate, since=at, now=moment)
        at = moment

    for event in events:
        decay_to(event.created_at)
        score += event.severity
        points.append((event.created_at, score))
    decay_to(max(now, at))
    return points


def regret_page(request, pk: int):
    policy = get_object_or_404(LearnedPolicy.objects.select_related("tenant", "pattern"), pk=pk)
    require_visible(request, policy.tenant_id)
    now = timezone.now()
    score = current_regret_score(policy=policy, now=now)
    share = score / policy.auto_demote_score if policy.auto_demote_score else 0.0
    facts = Section(title="Policy")
    facts.rows += [
        Row(
            "regret score now",
            f"{score:.1f} of {policy.auto_demote_score:g}",
            tone="danger" if share >= 1 else "warn" if share >= 0.7 else "ok",
            detail="reaching the demotion level demotes the policy automatically",
            key="regret-score",
        ),
        Row("state", policy.state, tone="danger" if policy.state == "DEMOTED" else ""),
        Row("pattern", policy.pattern.key),
        Row(
            "regret events since reinstatement",
            f"{policy.regret_count} of {policy.auto_demote_count} allowed",
        ),
        Row("decay", f"{policy.decay_rate:.0%} per day"),
        Row("preventions", str(policy.prevention_count)),
    ]
    facts.link = admin_url(policy, "change", policy.pk)
    return render_chart_page(
        request,
        title=f"Regret of {policy.name}",
        tenant=policy.tenant,
        intro="Each regret event adds its severity; the score decays daily; reaching the red "
        "line demotes the policy automatically.",
        charts=[
            (
                charts.regret_chart(
                    points=regret_series(policy, now),
                    demote_at=policy.auto_demote_score,
                    current=score,
                    title=f"{policy.name}: regret score",
                ),
                "",
            )
        ],
        sections=[facts],
        back=(admin_url(LearnedPolicy) or "", "Learned policies"),
    )


def backtests_page(request, slug: str):
    tenant = get_object_or_404(Tenant, slug=slug)
    require_visible(request, tenant.pk)
    runs = list(
        BacktestRun.objects.filter(tenant=tenant).order_by("-started_at", "-id")[:MAX_RUNS]
    )[::-1]
    table = Section(title="Runs", empty="no backtest run yet")
    for run in runs[::-1][:20]:
        table.rows.append(
            Row(
                run.run_id,
                f"{run.pass_rate:.0%}",
                admin_url(run, "change", run.pk),
                "ok" if run.miss_count == 0 else "warn",
                f"{run.case_count} cases: {run.hit_count} hit, {run.miss_count} miss, "
                f"{run.abstain_count} abstain · {run.started_at:%Y-%m-%d %H:%M} UTC",
            )
        )
    return render_chart_page(
        request,
        title=f"Backtest pass rate, {tenant.slug}",
        tenant=tenant,
        charts=[
            (
                charts.pass_rate_chart(
                    points=[(run.started_at, run.pass_rate) for run in runs],
                    title="Backtest pass rate",
                ),
                f"The last {len(runs)} runs.",
            )
        ],
        sections=[table],
        back=(admin_url(BacktestRun) or "", "Backtest runs"),
    )


urlpatterns = [
    path("policies/<int:pk>/regret/", admin.site.admin_view(regret_page), name="govloop-regret"),
    path("backtests/<slug:slug>/", admin.site.admin_view(backtests_page), name="govloop-backtests"),
]
