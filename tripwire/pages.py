"""The KPI chart of a regression policy: its rate over the last baseline + window events,
the two windows, the baseline and current rates and the level below which it fires."""

from __future__ import annotations

import datetime as dt

from django.contrib import admin
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils import timezone

from governance import charts
from governance.control_room import Row, Section, admin_url
from governance.pages import render_chart_page, require_visible
from tripwire.models import RegressionPolicy, RegressionState
from tripwire.selectors import kpi_window


def rolling(values: list[float], span: int) -> list[float | None]:
    """Trailing mean over ``span`` values; None until the first ``span`` values are in."""
    out: list[float | None] = []
    total = 0.0
    for i, value in enumerate(values):
        total += value
        if i >= span:
            total -= values[i - span]
        out.append(total / span if i + 1 >= span else None)
    return out


def kpi_page(request, pk: int):
    policy = get_object_or_404(RegressionPolicy.objects.select_related("tenant"), pk=pk)
    require_visible(request, policy.tenant_id)
    now = timezone.now()
    _, newest_first = kpi_window(
        tenant_id=policy.tenant_id,
        domain=policy.domain,
        metric=policy.metric,
        kind=policy.kind,
        limit=policy.window_events + policy.baseline_events,
        until=now,
        # The same events the evaluation reads (a time-bounded policy ignores older ones).
        since=now - dt.timedelta(days=policy.window_days) if policy.window_days else None,
    )
    values = list(reversed(newest_first))
    window = min(policy.window_events, len(values))
    split = len(values) - window
    baseline_values, window_values = values[:split], values[split:]
    baseline_rate = sum(baseline_values) / len(baseline_values) if baseline_values else None
    current_rate = sum(window_values) / len(window_values) if window_values else None
    threshold = (
        baseline_rate * (1 - policy.max_drop_fraction) if baseline_rate is not None else None
    )
    state = RegressionState.objects.filter(policy=policy).first()
    facts = Section(title="Policy and last evaluation")
    facts.rows += [
        Row(
            "action when it fires",
            policy.action + (f" {policy.rollback_family}" if policy.rollback_family else ""),
        ),
        Row("allowed drop", f"{policy.max_drop_fraction:.0%}"),
        Row("windows", f"recent {policy.window_events}, baseline {policy.baseline_events} events"),
        Row("enabled", "yes" if policy.enabled else "no", tone="ok" if policy.enabled else "muted"),
    ]
    if state is not None:
        facts.rows += [
            Row("status", state.status, tone="danger" if state.triggered else ""),
            Row("last drop", f"{state.drop:.1%}" if state.drop is not None else "—"),
            Row(
                "evaluated at",
                f"{state.evaluated_at:%Y-%m-%d %H:%M} UTC" if state.evaluated_at else "never",
            ),
            Row("action taken", state.action_taken or "—"),
        ]
        facts.link = admin_url(state, "change", state.pk)
        if state.triggered:
            facts.rows.insert(
                0,
                Row(
                    "Acknowledge the tripwire",
                    "re-arms it",
                    admin_url(RegressionPolicy, "acknowledge", policy.pk),
                    "danger",
                ),
            )
    return render_chart_page(
        request,
        title=f"KPI {policy.domain}.{policy.metric}",
        tenant=policy.tenant,
        intro=(
            f"The {len(values)} most recent events, oldest first. Each point is the mean of "
            f"the {policy.window_events} events up to it, the number an evaluation compares "
            "with the firing level; the last point is the current window."
        ),
        charts=[
            (
                charts.kpi_chart(
                    rates=rolling(values, policy.window_events),
                    baseline=(0, split),
                    window=(split, len(values)),
                    baseline_rate=baseline_rate,
                    current_rate=current_rate,
                    threshold_rate=threshold,
                    window_events=policy.window_events,
                    title=f"{policy.domain}.{policy.metric}",
                ),
                f"Shaded: the baseline and recent windows. It fires when the window mean falls "
                f"below the red firing level, the baseline less {policy.max_drop_fraction:.0%}"
                + (
                    f", for {policy.consecutive_breaches} evaluations in a row"
                    if policy.consecutive_breaches > 1
                    else ""
                )
                + ".",
            )
        ],
        sections=[facts],
        back=(admin_url(RegressionPolicy) or "", "Regression policies"),
    )


urlpatterns = [path("policies/<int:pk>/kpi/", admin.site.admin_view(kpi_page), name="govloop-kpi")]
