"""Chart pages for calibration: a snapshot's score histogram and reliability diagram, and a
calibrator version's reliability before and after calibration."""

from __future__ import annotations

import numpy as np
from django.contrib import admin
from django.shortcuts import get_object_or_404
from django.urls import path

from calibration import calibrators
from calibration.control_room import score_histogram_svg, snapshot_reliability
from calibration.models import CalibratorVersion, MetricsSnapshot
from calibration.registry_sources import sample_source
from governance import charts
from governance.control_room import Row, Section, admin_url
from governance.pages import render_chart_page, require_visible
from governance.selectors import active_version

MAX_SAMPLES = 50_000


def snapshot_page(request, pk: int):
    snapshot = get_object_or_404(MetricsSnapshot.objects.select_related("tenant"), pk=pk)
    require_visible(request, snapshot.tenant_id)
    active = active_version(tenant_id=snapshot.tenant_id, family="scoring")
    bins, ece = snapshot_reliability(snapshot)
    findings = Section(title="Findings", empty="no report on this snapshot yet")
    for report in snapshot.reports.order_by("-created_at")[:1]:
        findings.link = admin_url(report, "change", report.pk)
        for finding in report.findings.order_by("position"):
            findings.rows.append(Row(finding.title, finding.severity, detail=finding.kind))
    return render_chart_page(
        request,
        title=f"Metrics snapshot {snapshot.pk}",
        tenant=snapshot.tenant,
        intro=(
            f"{snapshot.decision_count} decisions over {snapshot.window_days} days to "
            f"{snapshot.window_end:%Y-%m-%d %H:%M} UTC; buckets under k={snapshot.privacy_k} "
            "are suppressed."
        ),
        charts=[
            (
                score_histogram_svg(
                    snapshot, active=active.payload if active else None, proposed=None
                ),
                "Active band thresholds in red.",
            ),
            (
                charts.reliability_diagram(
                    bins=bins, ece=ece, title=f"Reliability, snapshot {snapshot.pk}"
                ),
                "Observed accuracy against stated confidence; the diagonal is perfect calibration.",
            ),
        ],
        sections=[findings],
        back=(admin_url(MetricsSnapshot) or "", "Metrics snapshots"),
    )


def calibrator_samples(version: CalibratorVersion) -> tuple[np.ndarray, np.ndarray]:
    job = version.training_job
    source = sample_source(job.sample_source if job else "signal_accuracy")
    if source is None:
        return np.array([]), np.array([])
    confidences, labels = source(
        tenant_id=version.tenant_id, filters=dict(job.sample_filter) if job else {}
    )
    return np.asarray(confidences)[-MAX_SAMPLES:], np.asarray(labels)[-MAX_SAMPLES:]


def calibrator_page(request, pk: int):
    version = get_object_or_404(
        CalibratorVersion.objects.select_related("tenant", "model", "training_job"), pk=pk
    )
    require_visible(request, version.tenant_id)
    confidences, labels = calibrator_samples(version)
    raw_bins, raw_ece = charts.reliability_bins(confidences, labels)
    calibrated = (
        calibrators.apply(version.method, version.parameters, confidences)
        if len(confidences)
        else confidences
    )
    cal_bins, cal_ece = charts.reliability_bins(calibrated, labels)
    metrics = Section(title="Cross-validated metrics (training)")
    for name, value in sorted((version.metrics or {}).items()):
        if isinstance(value, int | float):
            metrics.rows.append(Row(name, f"{value:.4f}"))
    return render_chart_page(
        request,
        title=f"Calibrator {version.model.name} v{version.number} ({version.method}, {version.stage})",
        tenant=version.tenant,
        intro=f"{len(labels)} recorded (confidence, outcome) pairs from its training source.",
        charts=[
            (
                charts.reliability_diagram(
                    bins=raw_bins,
                    ece=raw_ece if len(labels) else None,
                    title="Before: raw confidence",
                ),
                "",
            ),
            (
                charts.reliability_diagram(
                    bins=cal_bins,
                    ece=cal_ece if len(labels) else None,
                    title="After: calibrated probability",
                ),
                "",
            ),
        ],
        sections=[metrics],
        back=(admin_url(CalibratorVersion) or "", "Calibrator versions"),
    )


urlpatterns = [
    path("snapshots/<int:pk>/", admin.site.admin_view(snapshot_page), name="govloop-snapshot"),
    path(
        "calibrators/<int:pk>/", admin.site.admin_view(calibrator_page), name="govloop-calibrator"
    ),
]
