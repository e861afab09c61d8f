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
from governance import charts, formatting
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
                "Observed accuracy against stated confidence; the diagonal is perfect "
                "calibration. " + charts.ECE_DEFINITION,
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


METRIC_MEANINGS = {
    "ece": charts.ECE_DEFINITION,
    "brier_score": "mean squared gap between probability and outcome; lower is better",
    "log_loss": "mean negative log-likelihood of the outcomes; lower is better",
    "cv_folds": "cross-validation folds: each metric is measured on records held out of fitting",
}


def calibrator_metric_rows(version: CalibratorVersion) -> list[Row]:
    """The cross-validated metrics as people read them (``cv_folds`` 5, ECE 0.049 ± 0.022),
    each with what it means; the ECE row is the calibrator's one ECE."""
    metrics = version.metrics or {}
    spread = metrics.get("std") or {}
    rows = []
    for name in sorted(metrics, key=lambda n: (n != "ece", n)):
        value = metrics[name]
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        text = f"{value:.3f}" if name == "ece" else formatting.format_number(value)
        if isinstance(spread.get(name), int | float):
            text += f" ± {spread[name]:.3f}"
        tone = ""
        if name == "ece":
            tone = (
                "ok"
                if value <= charts.ECE_GOOD
                else "warn"
                if value <= charts.ECE_POOR
                else "danger"
            )
        rows.append(
            Row(name, text, tone=tone, detail=METRIC_MEANINGS.get(name, ""), key=f"metric-{name}")
        )
    return rows


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
    cal_bins, _ = charts.reliability_bins(calibrated, labels)
    metrics = version.metrics or {}
    # One ECE per calibrator: the cross-validated one the evaluation gate and the control room
    # use. The raw confidence's ECE is measured the same way when training recorded it.
    ece = metrics.get("ece") if isinstance(metrics.get("ece"), int | float) else None
    raw = (metrics.get("uncalibrated") or {}).get("ece")
    raw = raw if isinstance(raw, int | float) else (raw_ece if len(labels) else None)
    folds = metrics.get("cv_folds")
    section = Section(title="Cross-validated metrics (training)", empty="no metrics recorded")
    section.rows = calibrator_metric_rows(version)
    return render_chart_page(
        request,
        title=f"Calibrator {version.model.name} v{version.number} ({version.method}, {version.stage})",
        tenant=version.tenant,
        intro=(
            f"{len(labels)} recorded (confidence, outcome) pairs from its training source. "
            + charts.ECE_DEFINITION
        ),
        charts=[
            (
                charts.reliability_diagram(
                    bins=raw_bins, ece=raw, title="Before: raw confidence", ece_label="raw ECE"
                ),
                "The confidence the signals stated, before calibration.",
            ),
            (
                charts.reliability_diagram(
                    bins=cal_bins,
                    ece=ece,
                    title="After: calibrated probability",
                    ece_label="ECE",
                ),
                f"The ECE is cross-validated ({formatting.format_number(folds)} folds, measured "
                "on held-out records); the curve shows the calibrator fitted on all the pairs."
                if folds
                else "The curve shows the calibrator fitted on all the pairs.",
            ),
        ],
        sections=[section],
        back=(admin_url(CalibratorVersion) or "", "Calibrator versions"),
    )


urlpatterns = [
    path("snapshots/<int:pk>/", admin.site.admin_view(snapshot_page), name="govloop-snapshot"),
    path(
        "calibrators/<int:pk>/", admin.site.admin_view(calibrator_page), name="govloop-calibrator"
    ),
]
