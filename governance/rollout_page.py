"""The rollout page of the admin (issue 18): exposure over time, each guard's cohort metrics
with 95% confidence intervals and the level at which it fires, and the stage history."""

from __future__ import annotations

import datetime as dt

from django.shortcuts import get_object_or_404

from governance.charts import exposure_chart
from governance.control_room import Row, Section, decide_url
from governance.models import Rollout
from governance.pages import render_chart_page, require_visible


def _ci(ci: list[float] | None) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "—"


def rollout_sections(rollout: Rollout) -> list[Section]:
    analysis = rollout.analysis or {}
    guards = Section(title="Guards (last analysis)", empty="not analysed yet")
    for guard in analysis.get("guards", []):
        base, cand = guard["baseline"], guard["candidate"]
        fires = (
            f"fires below {base['rate'] * (1 - guard['max_relative_regression']):.3f} "
            "when significant"
            if base["rate"] is not None
            else f"fires at a {guard['max_relative_regression']:.0%} relative regression"
        )
        tone = {"fail": "bad", "pass": "ok", "inconclusive": "warn"}.get(guard["verdict"], "")
        guards.rows.append(
            Row(
                f"{guard['metric']} ({guard['test']})",
                guard["verdict"],
                None,
                tone,
                f"current v{rollout.baseline.version if rollout.baseline else '?'}: "
                f"{base['rate']} over {base['n']} {_ci(base['ci95'])}; candidate "
                f"v{rollout.candidate.version}: {cand['rate']} over {cand['n']} "
                f"{_ci(cand['ci95'])}; p={guard['p_value']}; {fires}",
            )
        )
    if analysis:
        guards.rows.append(
            Row(
                "stage decision",
                analysis["decision"],
                None,
                "",
                f"stage {analysis['stage']} at {analysis['percent']}%, "
                f"{analysis['elapsed_seconds']} s in, ready: {analysis['ready']}",
            )
        )
    history = Section(title="Stage history", empty="nothing yet")
    for entry in rollout.history or []:
        extra = {k: v for k, v in entry.items() if k not in {"at", "event", "percent"}}
        history.rows.append(
            Row(entry["at"], entry["event"], None, "", f"{entry['percent']}% {extra or ''}")
        )
    plan = Section(
        title="Plan",
        rows=[
            Row(
                f"stage {i}",
                f"{stage['percent']}%",
                None,
                "ok" if i < rollout.stage_index else ("warn" if i == rollout.stage_index else ""),
                f"min {stage.get('min_duration_seconds', 0)} s, "
                f"min {stage.get('min_decisions', 0)} decisions per cohort",
            )
            for i, stage in enumerate(rollout.stages)
        ],
        link=decide_url(rollout.candidate),
    )
    return [guards, plan, history]


def exposure_points(rollout: Rollout) -> list[tuple[dt.datetime, float]]:
    return [
        (dt.datetime.fromisoformat(entry["at"].replace("Z", "+00:00")), float(entry["percent"]))
        for entry in rollout.history or []
    ]


def rollout_page(request, pk: int):
    rollout = get_object_or_404(
        Rollout.objects.select_related("tenant", "family", "candidate", "baseline"), pk=pk
    )
    require_visible(request, rollout.tenant_id)
    return render_chart_page(
        request,
        title=f"Rollout {rollout.pk}: {rollout.family.name} v{rollout.candidate.version} "
        f"({rollout.state}, {rollout.percent}%)",
        tenant=rollout.tenant,
        charts=[(exposure_chart(points=exposure_points(rollout)), "exposure over time")],
        sections=rollout_sections(rollout),
        intro="Cohorts are compared over the decisions of the current stage; a guard fires "
        "when the candidate's regression exceeds its limit and is significant.",
    )
