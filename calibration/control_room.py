"""calibration's panels on the control room and sections on the diff-and-decide page."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from calibration.models import (
    CalibrationReport,
    CalibratorVersion,
    ConfigProposal,
    MetricsSnapshot,
    ModelStage,
)
from calibration.selectors import proposal_for_version
from governance import charts
from governance.control_room import Panel, Row, Section, admin_url, decide_url
from governance.models import ConfigVersion, Tenant

SEVERITY_TONE = {"critical": "danger", "high": "danger", "medium": "warn", "low": "", "info": ""}


def snapshot_histogram(snapshot: MetricsSnapshot) -> tuple[list[int], list[float]]:
    """The published score histogram of a snapshot (suppressed buckets read as 0)."""
    hist = snapshot.metrics.get("score_histogram") or {}
    bins = int(hist.get("bins") or 0)
    if not bins:
        return [], []
    counts = [int((hist.get("counts") or {}).get(str(i), 0)) for i in range(bins)]
    return counts, [i / bins for i in range(bins + 1)]


def snapshot_reliability(
    snapshot: MetricsSnapshot,
) -> tuple[list[charts.ReliabilityBin], float | None]:
    """Reliability bins from a snapshot's published calibration buckets, and their ECE."""
    calibration = ((snapshot.metrics.get("outcomes") or {}).get("calibration")) or {}
    bins = int(calibration.get("bins") or 10)
    rows = []
    for key, bucket in sorted(
        (calibration.get("buckets") or {}).items(), key=lambda kv: int(kv[0])
    ):
        i = int(key)
        rows.append(
            charts.ReliabilityBin(
                lower=i / bins,
                upper=(i + 1) / bins,
                count=int(bucket["n"]),
                mean_confidence=float(bucket["mean_confidence"]),
                accuracy=float(bucket["accuracy"]),
            )
        )
    total = sum(b.count for b in rows)
    if not total:
        return rows, None
    ece = sum(b.count / total * abs(b.accuracy - b.mean_confidence) for b in rows)
    return rows, ece


def score_histogram_svg(
    snapshot: MetricsSnapshot, *, active: dict[str, Any] | None, proposed: dict[str, Any] | None
) -> str:
    counts, edges = snapshot_histogram(snapshot)
    payload = active or proposed or {}
    return charts.score_histogram(
        counts=counts,
        edges=edges or [0.0, 1.0],
        thresholds=list(payload.get("thresholds") or []),
        proposed=list(proposed.get("thresholds") or []) if proposed and active else None,
        bands=list(payload.get("bands") or []),
        title=f"Score distribution, snapshot {snapshot.pk} ({snapshot.decision_count} decisions)",
    )


def _pipeline_panel(tenant: Tenant) -> Panel:
    panel = Panel(
        key="calibration-pipeline",
        title="Last calibration pipeline run",
        link=admin_url(MetricsSnapshot, query=f"tenant__id__exact={tenant.pk}"),
        link_label="all snapshots",
        empty="the pipeline has not run yet",
        order=60,
    )
    snapshot = MetricsSnapshot.objects.filter(tenant=tenant).order_by("-created_at", "-id").first()
    if snapshot is None:
        return panel
    panel.rows.append(
        Row(
            f"snapshot {snapshot.pk}",
            f"{snapshot.decision_count} decisions",
            reverse("govloop-snapshot", args=[snapshot.pk]),
            detail=f"{snapshot.window_days}-day window to {snapshot.window_end:%Y-%m-%d %H:%M} UTC",
        )
    )
    report = CalibrationReport.objects.filter(tenant=tenant).order_by("-created_at", "-id").first()
    if report is not None:
        findings = list(report.findings.order_by("position"))
        panel.rows.append(
            Row(
                f"report {report.pk}",
                f"{len(findings)} finding(s)",
                admin_url(CalibrationReport, "change", report.pk),
            )
        )
        for finding in findings[:4]:
            panel.rows.append(
                Row(finding.title, finding.severity, None, SEVERITY_TONE.get(finding.severity, ""))
            )
    proposal = (
        ConfigProposal.objects.filter(tenant=tenant)
        .select_related("proposed_version")
        .order_by("-created_at", "-id")
        .first()
    )
    if proposal is not None:
        version = proposal.proposed_version
        panel.rows.append(
            Row(
                "proposal",
                (
                    "awaits approval"
                    if version.state == "PENDING_APPROVAL"
                    else version.state.lower().replace("_", " ")
                )
                if version
                else proposal.status,
                decide_url(version)
                if version
                else admin_url(ConfigProposal, "change", proposal.pk),
                "warn" if version is not None and version.state == "PENDING_APPROVAL" else "",
                proposal.message,
            )
        )
    return panel


def _calibrators_panel(tenant: Tenant) -> Panel:
    panel = Panel(
        key="calibrators",
        title="Calibrators in production",
        link=admin_url(CalibratorVersion, query=f"tenant__id__exact={tenant.pk}"),
        link_label="model registry",
        empty="no calibrator promoted to production",
        order=70,
    )
    production = CalibratorVersion.objects.filter(
        tenant=tenant, stage=ModelStage.PRODUCTION
    ).select_related("model")
    for version in production.order_by("model__name"):
        ece = (version.metrics or {}).get("ece")
        known = isinstance(ece, int | float)
        panel.rows.append(
            Row(
                f"{version.model.name} v{version.number} ({version.method})",
                f"ECE {ece:.3f}" if known else "",
                reverse("govloop-calibrator", args=[version.pk]),
                ("ok" if ece <= charts.ECE_GOOD else "warn" if ece <= charts.ECE_POOR else "danger")
                if known
                else "",
                f"{version.samples} samples · ECE cross-validated, 0 is perfect",
            )
        )
    staged = CalibratorVersion.objects.filter(tenant=tenant, stage=ModelStage.STAGING).count()
    if staged:
        panel.rows.append(Row("in staging", str(staged), panel.link, "warn"))
    return panel


def panels(*, tenant: Tenant) -> list[Panel]:
    return [_pipeline_panel(tenant), _calibrators_panel(tenant)]


def version_sections(*, version: ConfigVersion) -> list[Section]:
    proposal = proposal_for_version(version)
    if proposal is None:
        return []
    summary = proposal.change_summary or {}
    rationale = Section(title="Why: the proposal's changes", empty="no change recorded")
    for change in summary.get("changes") or []:
        impact = change.get("impact") or {}
        finding = change.get("finding") or {}
        rationale.rows.append(
            Row(
                f"{change.get('path')}: {change.get('old')} → {change.get('new')}",
                f"{impact.get('band_change_share', 0):.1%} change band",
                None,
                "",
                f"{finding.get('code', '')} {finding.get('kind', '')}: {change.get('rationale', '')}",
            )
        )
    total = summary.get("impact") or {}
    if total:
        rationale.rows.append(
            Row(
                "all changes together",
                f"{total.get('band_change_share', 0):.1%} change band",
                detail=f"{total.get('decisions_counted', 0)} decisions counted",
            )
        )
    report = proposal.report
    findings = Section(
        title=f"Findings of calibration report {report.pk}",
        link=admin_url(CalibrationReport, "change", report.pk),
        empty="no findings",
    )
    for finding in report.findings.order_by("position"):
        findings.rows.append(
            Row(
                finding.title,
                finding.severity,
                None,
                SEVERITY_TONE.get(finding.severity, ""),
                finding.kind,
            )
        )
    histogram = Section(
        title="Score distribution: active and proposed thresholds",
        svg=score_histogram_svg(
            report.snapshot,
            active=proposal.base_version.payload if proposal.base_version else None,
            proposed=version.payload,
        ),
        link=reverse("govloop-snapshot", args=[report.snapshot_id]),
    )
    return [rationale, findings, histogram]
