"""learning's panels on the control room (graduation gates, policies near demotion, the
active learning loop's last runs) and its section on the diff-and-decide page (the sandbox
report of a promoted loop proposal)."""

from __future__ import annotations

from django.db.models import F
from django.urls import reverse

from governance.control_room import Panel, Row, Section, admin_url, decide_url
from governance.formatting import percentage_points
from governance.models import ConfigVersion, Tenant
from learning.models import (
    BacktestRun,
    LearnedPolicy,
    LoopProposal,
    PolicyState,
    SandboxRun,
)
from learning.selectors_proofs import current_regret_score, graduation_status


def _graduation_panel(tenant: Tenant) -> Panel:
    status = graduation_status(tenant_id=tenant.pk)
    panel = Panel(
        key="graduation",
        title=f"Graduation: {status.status_label}",
        link=admin_url(LearnedPolicy, query=f"tenant__id__exact={tenant.pk}"),
        link_label="learned policies",
        tone="ok" if status.is_graduated else "",
        order=40,
    )
    gates = [
        ("gate 1: proven prevention", status.gate1_passed, f"{status.total_preventions} prevented"),
        (
            "gate 2: proven automatic rollback",
            status.gate2_passed,
            f"{status.total_auto_demotions} auto-demotions",
        ),
        ("gate 3: console proof", status.gate3_passed, f"{status.console_proof_count} incident(s)"),
    ]
    for label, passed, detail in gates:
        panel.rows.append(
            Row(label, "passed" if passed else "open", None, "ok" if passed else "warn", detail)
        )
    if not status.is_graduated:
        panel.rows.append(Row("next action", "", None, "", status.next_action))
    return panel


def _regret_panel(tenant: Tenant) -> Panel:
    panel = Panel(
        key="regret",
        title="Learned policies closest to demotion",
        link=admin_url(LearnedPolicy, query=f"tenant__id__exact={tenant.pk}"),
        link_label="all policies",
        empty="no active learned policy",
        order=45,
    )
    policies = (
        LearnedPolicy.objects.filter(
            tenant=tenant, state__in=[PolicyState.ACTIVE, PolicyState.DEMOTED]
        )
        .annotate(share=F("regret_score") / F("auto_demote_score"))
        .order_by("state", "-share", "name")[:6]
    )
    for policy in policies:
        score = current_regret_score(policy=policy)
        if policy.state == PolicyState.DEMOTED:
            tone, value = "danger", "DEMOTED"
        else:
            near = score >= 0.7 * policy.auto_demote_score
            tone, value = (
                ("warn" if near else "ok"),
                f"{score:.1f} / {policy.auto_demote_score:.0f}",
            )
        panel.rows.append(
            Row(
                policy.name,
                value,
                reverse("govloop-regret", args=[policy.pk]),
                tone,
                f"{policy.regret_count} regret event(s) of {policy.auto_demote_count} allowed",
            )
        )
    return panel


def _loop_panel(tenant: Tenant) -> Panel:
    panel = Panel(
        key="loop",
        title="Last active-learning loop runs",
        link=reverse("govloop-backtests", args=[tenant.slug]),
        link_label="pass rate over time",
        empty="no backtest run yet",
        order=65,
    )
    run = BacktestRun.objects.filter(tenant=tenant).order_by("-started_at", "-id").first()
    if run is None:
        return panel
    panel.rows.append(
        Row(
            f"backtest {run.run_id}",
            f"{run.pass_rate:.0%} pass",
            admin_url(run, "change", run.pk),
            "ok" if run.miss_count == 0 else "warn",
            f"{run.hit_count} hit, {run.miss_count} miss, {run.abstain_count} abstain · "
            f"{run.started_at:%Y-%m-%d %H:%M} UTC",
        )
    )
    for proposal in (
        LoopProposal.objects.filter(tenant=tenant)
        .select_related("promoted_version")
        .order_by("-created_at", "-id")[:3]
    ):
        version = proposal.promoted_version
        panel.rows.append(
            Row(
                f"proposal {proposal.kind}: {proposal.change.get('path', '')}",
                proposal.state,
                decide_url(version) if version else admin_url(proposal, "change", proposal.pk),
                "ok" if proposal.state in ("ELIGIBLE", "PROMOTED") else "",
            )
        )
    return panel


def panels(*, tenant: Tenant) -> list[Panel]:
    return [_graduation_panel(tenant), _regret_panel(tenant), _loop_panel(tenant)]


def version_sections(*, version: ConfigVersion) -> list[Section]:
    proposal = (
        LoopProposal.objects.filter(promoted_version=version).select_related("failure").first()
    )
    if proposal is None:
        return []
    sections = []
    sandbox = SandboxRun.objects.filter(proposal=proposal).order_by("-executed_at", "-id").first()
    if sandbox is not None:
        report = sandbox.report or {}
        gate = report.get("gate") or {}
        delta = report.get("delta") or {}
        section = Section(
            title=f"Sandbox report ({sandbox.runs} identical runs)",
            link=admin_url(sandbox, "change", sandbox.pk),
        )
        section.rows.append(
            Row(
                "promotion gate",
                "passed" if gate.get("passed") else "failed",
                tone="ok" if gate.get("passed") else "danger",
            )
        )
        if isinstance(delta.get("pass_rate_delta"), int | float):
            before = (report.get("baseline") or {}).get("backtest_pass_rate")
            after = (report.get("proposal") or {}).get("backtest_pass_rate")
            rates = (
                f": {before:.1%} of the {report.get('case_count')} backtest cases pass with "
                f"the active config, {after:.1%} with this one"
                if isinstance(before, int | float) and isinstance(after, int | float)
                else ""
            )
            section.rows.append(
                Row(
                    "pass-rate change",
                    percentage_points(delta["pass_rate_delta"]),
                    tone="ok" if delta["pass_rate_delta"] > 0 else "",
                    detail=f"in percentage points{rates}",
                )
            )
        for name, meaning in (
            ("fixed_count", "failing cases the change makes pass"),
            ("regression_count", "passing cases the change makes fail"),
            ("protected_regression_count", "protected cases the change makes fail"),
        ):
            if name in delta:
                section.rows.append(
                    Row(
                        name.removesuffix("_count").replace("_", " "),
                        str(delta[name]),
                        detail=meaning,
                    )
                )
        for line in gate.get("criteria") or []:
            section.rows.append(
                Row(
                    line.get("criterion", ""),
                    "pass" if line.get("passed") else "FAIL",
                    tone="ok" if line.get("passed") else "danger",
                    detail=line.get("detail", ""),
                )
            )
        sections.append(section)
    if proposal.failure_id:
        sections.append(
            Section(
                title="The failure it answers",
                markdown=proposal.failure.markdown[:8000],
                link=admin_url(proposal.failure, "change", proposal.failure_id),
            )
        )
    return sections


def subject_pages():
    """A learned policy is judged (reinstated or retired) from its regret page."""
    return {LearnedPolicy._meta.label_lower: lambda pk: reverse("govloop-regret", args=[pk])}
