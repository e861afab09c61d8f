"""Use cases of the offline calibration pipeline (seed 001).

decisions ──collect──> MetricsSnapshot ──analyze──> CalibrationReport ──propose──> ConfigProposal
                                                                          └─> ConfigVersion
                                                                              PENDING_APPROVAL

Nothing here changes the runtime: a proposal is registered through the governance services
and waits for a reviewer's approval and activation like any other version.

Privacy rule (k = settings.GOVLOOP_PRIVACY_K): every group a snapshot reports (histogram
bucket, band x confidence cell, flag, tier, band, calibration bucket) is published only when
it holds at least k decisions; smaller groups are suppressed (counted, never shown).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, FloatField, IntegerField, Q, Sum, Value
from django.db.models.functions import Cast, Floor, Least
from django.utils import timezone

from calibration.models import (
    CalibrationFinding,
    CalibrationReport,
    ConfigProposal,
    Decision,
    DecisionFlag,
    FindingKind,
    MetricsSnapshot,
    ProposalStatus,
    Severity,
)
from calibration.models.pipeline import SEVERITY_RANK
from calibration.scoring import classify_scores
from governance.errors import NotFound, TransitionConflict, ValidationFailed
from governance.models import ConfigVersion, Tenant, VersionSource, VersionState
from governance.services.ledger import Actor, ledger_append
from governance.services.versions import next_version, version_register

SCORING = "scoring"
HISTOGRAM_BINS = 100
CONFIDENCE_BINS = 10
DEFAULT_WINDOW_DAYS = 30

# Analyzer defaults: shares of the decisions of the window.
CROWDING_EPSILON = 0.02
CROWDING_SEVERITY = ((0.25, Severity.HIGH), (0.15, Severity.MEDIUM), (0.08, Severity.LOW))
FLAG_OFTEN_SEVERITY = ((0.5, Severity.HIGH), (0.3, Severity.MEDIUM))
ECE_SEVERITY = ((0.15, Severity.HIGH), (0.10, Severity.MEDIUM), (0.05, Severity.LOW))
ESCALATION_SEVERITY = ((0.35, Severity.HIGH), (0.2, Severity.MEDIUM))
NEVER_FIRES_MIN_DECISIONS = 50

# Proposal bounds: one change moves a value by at most this much.
MAX_THRESHOLD_STEP_BINS = 5
FLAG_VALUE_STEP = 0.05
MAX_MARGIN_FACTOR = 0.5

Progress = Callable[[str], None]


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or timezone.now()


def _active_scoring(tenant_id: int) -> ConfigVersion | None:
    return (
        ConfigVersion.objects.select_related("family")
        .filter(tenant_id=tenant_id, family__name=SCORING, state=VersionState.ACTIVE)
        .first()
    )


# ---------------------------------------------------------------------------------------
# Decisions


def _decision_errors(rows: Sequence[Mapping[str, Any]], tenant: Tenant) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        client_id = row["client_id"]
        if client_id in seen:
            errors[f"{index}.client_id"] = [f"repeats decision {seen[client_id]} of this batch"]
        seen.setdefault(client_id, index)
    taken = set(
        Decision.objects.filter(tenant=tenant, client_id__in=list(seen)).values_list(
            "client_id", flat=True
        )
    )
    for client_id in sorted(taken):
        errors[f"{seen[client_id]}.client_id"] = ["a decision with this client id exists"]
    return errors


def _version_refs(tenant: Tenant, rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """The scoring versions the rows name, by version number (one query per batch): a
    decision carries the version that produced it, so a rollout can compare cohorts."""
    names = {row.get("config_version") for row in rows} - {None, ""}
    if not names:
        return {}
    return dict(
        ConfigVersion.objects.filter(
            tenant=tenant, family__name=SCORING, version__in=names
        ).values_list("version", "pk")
    )


@transaction.atomic
def decisions_record(
    *, tenant: Tenant, rows: Sequence[Mapping[str, Any]], now: dt.datetime | None = None
) -> list[Decision]:
    """Store validated decision rows, all or nothing. Each row: client_id, score, band,
    confidence, decided_at and optionally abstained, escalated, tier, config_version,
    flags (codes) and was_correct."""
    now = _now(now)
    errors = _decision_errors(rows, tenant)
    if errors:
        raise ValidationFailed(errors)
    version_ids = _version_refs(tenant, rows)
    decisions = [
        Decision(
            tenant=tenant,
            client_id=row["client_id"],
            score=row["score"],
            band=row["band"],
            confidence=row["confidence"],
            abstained=row.get("abstained", False),
            escalated=row.get("escalated", False),
            tier=row.get("tier", ""),
            config_version=row.get("config_version", ""),
            config_version_ref_id=version_ids.get(row.get("config_version", "")),
            decided_at=row["decided_at"],
            was_correct=row.get("was_correct"),
            outcome_at=now if row.get("was_correct") is not None else None,
            recorded_at=now,
        )
        for row in rows
    ]
    try:
        with transaction.atomic():
            created = Decision.objects.bulk_create(decisions)
            DecisionFlag.objects.bulk_create(
                DecisionFlag(
                    decision=decision,
                    tenant=tenant,
                    decided_at=decision.decided_at,
                    name=name,
                )
                for decision, row in zip(created, rows, strict=True)
                for name in sorted(set(row.get("flags", [])))
            )
    except IntegrityError as exc:
        # A concurrent batch took one of the client ids between our check and the insert.
        raise ValidationFailed({"client_id": ["a decision with this client id exists"]}) from exc
    return created


@transaction.atomic
def decision_outcome_record(
    *, tenant: Tenant, client_id: str, was_correct: bool, now: dt.datetime | None = None
) -> Decision:
    """Record the known outcome of a decision once; repeating the same outcome is a no-op,
    a different one is a conflict."""
    decision = (
        Decision.objects.select_for_update().filter(tenant=tenant, client_id=client_id).first()
    )
    if decision is None:
        raise NotFound(f"no decision {client_id!r}")
    if decision.was_correct is not None:
        if decision.was_correct == was_correct:
            return decision
        raise TransitionConflict(
            "this decision's outcome is already recorded", current_state="OUTCOME_RECORDED"
        )
    decision.was_correct = was_correct
    decision.outcome_at = _now(now)
    decision.save(update_fields=["was_correct", "outcome_at"])
    return decision


# ---------------------------------------------------------------------------------------
# Phase 1: aggregate metrics


def bucket_expression(field: str, bins: int):
    """floor(value * bins) clipped to bins - 1: equal-width buckets [i/bins, (i+1)/bins)."""
    return Least(Cast(Floor(F(field) * Value(float(bins))), IntegerField()), Value(bins - 1))


def bucket_of(value: float, bins: int) -> int:
    return min(math.floor(value * bins), bins - 1)


def window_decisions(*, tenant_id: int, start: dt.datetime, end: dt.datetime):
    return Decision.objects.filter(tenant_id=tenant_id, decided_at__gte=start, decided_at__lt=end)


def grouped_decision_aggregates(
    *,
    tenant_id: int,
    start: dt.datetime,
    end: dt.datetime,
    histogram_bins: int,
    confidence_bins: int,
) -> list[dict[str, Any]]:
    """One GROUP BY over the window's decisions: (score bucket, band, confidence bucket, tier)
    with counts and sums. Every published metric is a sum over these groups, so the table is
    scanned once and no decision row ever reaches Python."""
    known = Q(was_correct__isnull=False)
    rows = (
        window_decisions(tenant_id=tenant_id, start=start, end=end)
        .annotate(
            hb=bucket_expression("score", histogram_bins),
            cb=bucket_expression("confidence", confidence_bins),
        )
        .values("hb", "band", "cb", "tier")
        .annotate(
            n=Count("id"),
            escalated_n=Count("id", filter=Q(escalated=True)),
            abstained_n=Count("id", filter=Q(abstained=True)),
            known_n=Count("id", filter=known),
            correct_n=Count("id", filter=Q(was_correct=True)),
            score_sum=Sum("score"),
            confidence_sum=Sum("confidence"),
            known_confidence_sum=Sum("confidence", filter=known, output_field=FloatField()),
        )
        .order_by()
    )
    return list(rows)


def flag_counts(*, tenant_id: int, start: dt.datetime, end: dt.datetime) -> dict[str, int]:
    rows = (
        DecisionFlag.objects.filter(tenant_id=tenant_id, decided_at__gte=start, decided_at__lt=end)
        .values("name")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {row["name"]: row["n"] for row in rows}


def _publish(counts: Mapping[str, int], k: int) -> tuple[dict[str, int], list[str]]:
    shown = {key: n for key, n in sorted(counts.items()) if n >= k}
    suppressed = sorted(key for key, n in counts.items() if 0 < n < k)
    return shown, suppressed


def build_metrics(
    groups: Iterable[Mapping[str, Any]],
    flags: Mapping[str, int],
    *,
    k: int,
    histogram_bins: int = HISTOGRAM_BINS,
    confidence_bins: int = CONFIDENCE_BINS,
) -> dict[str, Any]:
    """Fold the grouped aggregates into the published metrics, suppressing groups under k."""
    totals: dict[str, float] = defaultdict(float)
    histogram: dict[str, int] = defaultdict(int)
    matrix: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_band: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    tiers: dict[str, int] = defaultdict(int)
    calibration: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for g in groups:
        n = g["n"]
        totals["decisions"] += n
        totals["escalated"] += g["escalated_n"]
        totals["abstained"] += g["abstained_n"]
        totals["known"] += g["known_n"]
        totals["correct"] += g["correct_n"]
        totals["score_sum"] += g["score_sum"] or 0.0
        totals["confidence_sum"] += g["confidence_sum"] or 0.0
        histogram[str(g["hb"])] += n
        matrix[g["band"]][str(g["cb"])] += n
        band = by_band[g["band"]]
        band["decisions"] += n
        band["escalated"] += g["escalated_n"]
        band["known"] += g["known_n"]
        band["correct"] += g["correct_n"]
        tiers[g["tier"] or "-"] += n
        if g["known_n"]:
            bucket = calibration[str(g["cb"])]
            bucket["n"] += g["known_n"]
            bucket["correct"] += g["correct_n"]
            bucket["confidence_sum"] += g["known_confidence_sum"] or 0.0

    n_total = int(totals["decisions"])
    hist_shown, hist_suppressed = _publish(histogram, k)
    matrix_shown: dict[str, dict[str, int]] = {}
    suppressed_cells = 0
    for band_name, cells in sorted(matrix.items()):
        shown, hidden = _publish(cells, k)
        suppressed_cells += len(hidden)
        if shown:
            matrix_shown[band_name] = shown
    flags_shown, flags_suppressed = _publish(flags, k)
    tiers_shown, tiers_suppressed = _publish(tiers, k)
    bands_out: dict[str, dict[str, Any]] = {}
    bands_suppressed = []
    for band_name, values in sorted(by_band.items()):
        if values["decisions"] < k:
            bands_suppressed.append(band_name)
            continue
        known = int(values["known"])
        bands_out[band_name] = {
            "decisions": int(values["decisions"]),
            "escalated": int(values["escalated"]),
            "escalation_rate": values["escalated"] / values["decisions"],
            "outcomes_known": known,
            "accuracy": values["correct"] / known if known >= k else None,
        }
    buckets_out: dict[str, dict[str, Any]] = {}
    calibration_suppressed = 0
    for key, values in sorted(calibration.items(), key=lambda kv: int(kv[0])):
        if values["n"] < k:
            calibration_suppressed += 1
            continue
        buckets_out[key] = {
            "n": int(values["n"]),
            "correct": int(values["correct"]),
            "mean_confidence": values["confidence_sum"] / values["n"],
            "accuracy": values["correct"] / values["n"],
        }
    published = n_total >= k
    known_total = int(totals["known"])
    return {
        "privacy": {
            "k": k,
            "rule": "a group with fewer than k decisions is suppressed",
            "published": published,
        },
        "totals": {
            "decisions": n_total,
            "escalated": int(totals["escalated"]),
            "abstained": int(totals["abstained"]),
            "outcomes_known": known_total,
            "mean_score": totals["score_sum"] / n_total if n_total else None,
            "mean_confidence": totals["confidence_sum"] / n_total if n_total else None,
        },
        "score_histogram": {
            "bins": histogram_bins,
            "bucket": "i covers scores in [i/bins, (i+1)/bins); the last bucket includes 1",
            "counts": hist_shown,
            "suppressed_buckets": len(hist_suppressed),
        },
        "confidence_matrix": {
            "bins": confidence_bins,
            "bands": matrix_shown,
            "suppressed_cells": suppressed_cells,
        },
        "flag_frequencies": {
            "counts": flags_shown,
            "rates": {name: n / n_total for name, n in flags_shown.items()} if n_total else {},
            "suppressed": flags_suppressed,
        },
        "escalation": {
            "escalated": int(totals["escalated"]),
            "rate": totals["escalated"] / n_total if n_total else None,
            "by_band": {
                b: {key: v[key] for key in ("decisions", "escalated", "escalation_rate")}
                for b, v in bands_out.items()
            },
            "suppressed_bands": bands_suppressed,
        },
        "tier_usage": {"counts": tiers_shown, "suppressed": tiers_suppressed},
        "outcomes": {
            "known": known_total,
            "correct": int(totals["correct"]),
            "accuracy": totals["correct"] / known_total if known_total >= k else None,
            "by_band": {
                b: {key: v[key] for key in ("outcomes_known", "accuracy")}
                for b, v in bands_out.items()
            },
            "calibration": {
                "bins": confidence_bins,
                "buckets": buckets_out,
                "suppressed_buckets": calibration_suppressed,
            },
        },
    }


@transaction.atomic
def metrics_collect(
    *,
    tenant: Tenant,
    actor: Actor,
    window_days: int = DEFAULT_WINDOW_DAYS,
    now: dt.datetime | None = None,
    histogram_bins: int = HISTOGRAM_BINS,
    confidence_bins: int = CONFIDENCE_BINS,
) -> MetricsSnapshot:
    """Phase 1: aggregate the decisions of [now - window_days, now) into a snapshot."""
    if window_days < 1:
        raise ValidationFailed({"window_days": ["must be at least 1"]})
    now = _now(now)
    start = now - dt.timedelta(days=window_days)
    k = settings.GOVLOOP_PRIVACY_K
    groups = grouped_decision_aggregates(
        tenant_id=tenant.pk,
        start=start,
        end=now,
        histogram_bins=histogram_bins,
        confidence_bins=confidence_bins,
    )
    flags = flag_counts(tenant_id=tenant.pk, start=start, end=now)
    metrics = build_metrics(
        groups, flags, k=k, histogram_bins=histogram_bins, confidence_bins=confidence_bins
    )
    active = _active_scoring(tenant.pk)
    snapshot = MetricsSnapshot.objects.create(
        tenant=tenant,
        window_start=start,
        window_end=now,
        window_days=window_days,
        privacy_k=k,
        decision_count=metrics["totals"]["decisions"],
        config_version=active.version if active else "",
        metrics=metrics,
        created_at=now,
    )
    ledger_append(
        tenant=tenant,
        kind="calibration.metrics_collected",
        actor=actor,
        subject=snapshot,
        payload={
            "window_days": window_days,
            "decisions": snapshot.decision_count,
            "config_version": snapshot.config_version,
        },
        now=now,
    )
    return snapshot


# ---------------------------------------------------------------------------------------
# Phase 2: analysis


def _severity(value: float, scale: Sequence[tuple[float, str]]) -> str | None:
    for floor, severity in scale:
        if value >= floor:
            return str(severity)
    return None


def histogram_arrays(snapshot_metrics: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Published histogram as (bucket midpoints, counts)."""
    hist = snapshot_metrics["score_histogram"]
    bins = hist["bins"]
    keys = sorted(int(key) for key in hist["counts"])
    mids = np.array([(key + 0.5) / bins for key in keys], dtype=np.float64)
    counts = np.array([hist["counts"][str(key)] for key in keys], dtype=np.float64)
    return mids, counts


def crowding_mass(mids: np.ndarray, counts: np.ndarray, at: float, epsilon: float) -> float:
    """Decisions whose histogram bucket midpoint lies within epsilon of ``at``."""
    near = np.abs(mids - at) < epsilon - 1e-12
    return float(counts[near].sum())


def expected_calibration_error(
    confidences: Sequence[float], outcomes: Sequence[bool], bins: int = CONFIDENCE_BINS
) -> dict[str, Any]:
    """ECE and MCE over equal-width confidence bins (bucket = floor(c * bins), 1.0 in the
    last): ECE = sum_b n_b / N * |accuracy_b - mean confidence_b|, MCE = max_b of the gap."""
    buckets: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for confidence, outcome in zip(confidences, outcomes, strict=True):
        bucket = buckets[str(bucket_of(confidence, bins))]
        bucket["n"] += 1
        bucket["correct"] += 1 if outcome else 0
        bucket["confidence_sum"] += confidence
    return calibration_error_from_buckets(
        {
            key: {
                "n": b["n"],
                "accuracy": b["correct"] / b["n"],
                "mean_confidence": b["confidence_sum"] / b["n"],
            }
            for key, b in buckets.items()
        }
    )


def calibration_error_from_buckets(buckets: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    total = sum(b["n"] for b in buckets.values())
    gaps = {
        key: {
            "n": int(b["n"]),
            "accuracy": b["accuracy"],
            "mean_confidence": b["mean_confidence"],
            "gap": b["mean_confidence"] - b["accuracy"],
        }
        for key, b in sorted(buckets.items(), key=lambda kv: int(kv[0]))
    }
    if not total:
        return {"ece": None, "mce": None, "n": 0, "overconfidence": None, "buckets": gaps}
    ece = sum(g["n"] / total * abs(g["gap"]) for g in gaps.values())
    mce = max(abs(g["gap"]) for g in gaps.values())
    signed = sum(g["n"] / total * g["gap"] for g in gaps.values())
    return {"ece": ece, "mce": mce, "n": int(total), "overconfidence": signed, "buckets": gaps}


def _finding(kind: str, severity: str, title: str, numbers: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "severity": severity, "title": title, "numbers": numbers}


def analyze_metrics(
    metrics: Mapping[str, Any],
    payload: Mapping[str, Any] | None,
    *,
    epsilon: float = CROWDING_EPSILON,
) -> list[dict[str, Any]]:
    """Findings (kind, severity, title, numbers) from a snapshot's metrics and the scoring
    payload in force. Pure: it reads, it changes nothing."""
    findings: list[dict[str, Any]] = []
    total = metrics["totals"]["decisions"]
    if not metrics["privacy"]["published"] or not total:
        return findings
    mids, counts = histogram_arrays(metrics)
    visible = float(counts.sum())
    if payload is not None and visible:
        for index, threshold in enumerate(payload["thresholds"]):
            mass = crowding_mass(mids, counts, threshold, epsilon)
            share = mass / visible
            severity = _severity(share, CROWDING_SEVERITY)
            if severity is None:
                continue
            below = crowding_mass(mids, counts, threshold - epsilon / 2, epsilon / 2)
            above = crowding_mass(mids, counts, threshold + epsilon / 2, epsilon / 2)
            findings.append(
                _finding(
                    FindingKind.BOUNDARY_CROWDING,
                    severity,
                    f"{share:.0%} of scores lie within {epsilon} of threshold {threshold}",
                    {
                        "threshold_index": index,
                        "threshold": threshold,
                        "epsilon": epsilon,
                        "share": share,
                        "decisions_near": int(mass),
                        "decisions_just_below": int(below),
                        "decisions_just_above": int(above),
                        "decisions_counted": int(visible),
                        "uniform_share": 2 * epsilon,
                    },
                )
            )
    flag_metrics = metrics["flag_frequencies"]
    for rule in payload.get("flag_rules", []) if payload else []:
        name = rule["name"]
        count = flag_metrics["counts"].get(name)
        if count is not None:
            rate = count / total
            severity = _severity(rate, FLAG_OFTEN_SEVERITY)
            if severity:
                findings.append(
                    _finding(
                        FindingKind.FLAG_TRIGGERING,
                        severity,
                        f"flag {name} fires on {rate:.0%} of decisions",
                        {
                            "flag": name,
                            "problem": "fires_too_often",
                            "count": count,
                            "rate": rate,
                            "decisions": total,
                            "rule": dict(rule),
                        },
                    )
                )
        elif name not in flag_metrics["suppressed"] and total >= NEVER_FIRES_MIN_DECISIONS:
            findings.append(
                _finding(
                    FindingKind.FLAG_TRIGGERING,
                    Severity.LOW,
                    f"flag {name} never fired in {total} decisions",
                    {
                        "flag": name,
                        "problem": "never_fires",
                        "count": 0,
                        "rate": 0.0,
                        "decisions": total,
                        "rule": dict(rule),
                    },
                )
            )
    calibration = calibration_error_from_buckets(metrics["outcomes"]["calibration"]["buckets"])
    if calibration["ece"] is not None:
        severity = _severity(calibration["ece"], ECE_SEVERITY)
        if severity:
            direction = "overconfident" if calibration["overconfidence"] > 0 else "underconfident"
            findings.append(
                _finding(
                    FindingKind.CONFIDENCE_ALIGNMENT,
                    severity,
                    f"confidence is {direction}: ECE {calibration['ece']:.3f}, "
                    f"MCE {calibration['mce']:.3f}",
                    {
                        "ece": calibration["ece"],
                        "mce": calibration["mce"],
                        "direction": direction,
                        "mean_gap": calibration["overconfidence"],
                        "outcomes": calibration["n"],
                        "bins": metrics["outcomes"]["calibration"]["bins"],
                        "buckets": calibration["buckets"],
                    },
                )
            )
    escalation = metrics["escalation"]
    if escalation["rate"] is not None:
        severity = _severity(escalation["rate"], ESCALATION_SEVERITY)
        if severity:
            findings.append(
                _finding(
                    FindingKind.ESCALATION_PATTERN,
                    severity,
                    f"{escalation['rate']:.0%} of decisions escalate",
                    {
                        "problem": "high_rate",
                        "rate": escalation["rate"],
                        "escalated": escalation["escalated"],
                        "decisions": total,
                        "by_band": escalation["by_band"],
                    },
                )
            )
    findings.sort(key=lambda f: -SEVERITY_RANK[f["severity"]])
    return findings


@transaction.atomic
def report_analyze(
    *,
    snapshot: MetricsSnapshot,
    actor: Actor,
    epsilon: float = CROWDING_EPSILON,
    now: dt.datetime | None = None,
) -> CalibrationReport:
    """Phase 2: a report of severity-tagged findings against the ACTIVE scoring payload."""
    now = _now(now)
    active = _active_scoring(snapshot.tenant_id)
    findings = analyze_metrics(
        snapshot.metrics, active.payload if active else None, epsilon=epsilon
    )
    counts: dict[str, int] = defaultdict(int)
    for finding in findings:
        counts[finding["severity"]] += 1
    notes = []
    if active is None:
        notes.append("no ACTIVE scoring version: thresholds and flags were not assessed")
    if not snapshot.metrics["outcomes"]["calibration"]["buckets"]:
        notes.append("no published outcomes: confidence alignment was not assessed")
    report = CalibrationReport.objects.create(
        tenant_id=snapshot.tenant_id,
        snapshot=snapshot,
        config_version=active.version if active else "",
        parameters={"epsilon": epsilon, "confidence_bins": CONFIDENCE_BINS},
        summary={
            "findings": len(findings),
            "by_severity": dict(counts),
            "decisions": snapshot.decision_count,
            "notes": notes,
        },
        created_at=now,
    )
    CalibrationFinding.objects.bulk_create(
        CalibrationFinding(report=report, position=index, **finding)
        for index, finding in enumerate(findings)
    )
    ledger_append(
        tenant=snapshot.tenant_id,
        kind="calibration.report_created",
        actor=actor,
        subject=report,
        payload={"snapshot": snapshot.pk, "findings": len(findings), "by_severity": dict(counts)},
        now=now,
    )
    return report


# ---------------------------------------------------------------------------------------
# Phase 3: proposal


def impact_estimate(
    metrics: Mapping[str, Any], old: Mapping[str, Any], new: Mapping[str, Any]
) -> dict[str, Any]:
    """Share of the snapshot's decisions whose band (and whose decision, ABSTAIN included)
    would change: every published histogram bucket is re-scored at its midpoint under both
    payloads."""
    mids, counts = histogram_arrays(metrics)
    total = float(counts.sum())
    if not total:
        return {"band_change_share": 0.0, "decision_change_share": 0.0, "decisions_counted": 0}
    old_band, _, old_abstain = classify_scores(old, mids)
    new_band, _, new_abstain = classify_scores(new, mids)
    band_changed = old_band != new_band
    decision_changed = band_changed | (old_abstain != new_abstain)
    return {
        "band_change_share": float(counts[band_changed].sum() / total),
        "decision_change_share": float(counts[decision_changed].sum() / total),
        "decisions_counted": int(total),
    }


def _threshold_change(
    finding: CalibrationFinding, payload: dict[str, Any], metrics: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Move a crowded threshold to the nearby bucket edge with the fewest decisions within
    epsilon (at most MAX_THRESHOLD_STEP_BINS buckets away, keeping the order)."""
    numbers = finding.numbers
    index, epsilon = numbers["threshold_index"], numbers["epsilon"]
    thresholds = payload["thresholds"]
    current = thresholds[index]
    bins = metrics["score_histogram"]["bins"]
    lower = thresholds[index - 1] if index > 0 else 0.0
    upper = thresholds[index + 1] if index + 1 < len(thresholds) else 1.0
    mids, counts = histogram_arrays(metrics)
    centre = round(current * bins)
    candidates = []
    for edge in range(centre - MAX_THRESHOLD_STEP_BINS, centre + MAX_THRESHOLD_STEP_BINS + 1):
        value = round(edge / bins, 10)
        if lower + 1 / bins <= value <= upper - 1 / bins and 0 < value < 1:
            candidates.append(
                (crowding_mass(mids, counts, value, epsilon), abs(value - current), value)
            )
    if not candidates:
        return None
    mass, _, best = min(candidates)
    if mass >= crowding_mass(mids, counts, current, epsilon) or best == current:
        return None
    return {
        "path": f"thresholds[{index}]",
        "old": current,
        "new": best,
        "rationale": (
            f"{numbers['share']:.1%} of decisions score within {epsilon} of {current}; "
            f"at {best} {mass / numbers['decisions_counted']:.1%} do, so fewer decisions sit "
            "on the boundary with a low confidence"
        ),
        "apply": lambda p: p["thresholds"].__setitem__(index, best),
    }


def _flag_change(finding: CalibrationFinding, payload: dict[str, Any]) -> dict[str, Any] | None:
    numbers = finding.numbers
    if numbers["problem"] != "fires_too_often":
        return None
    rules = payload.get("flag_rules", [])
    index = next((i for i, r in enumerate(rules) if r["name"] == numbers["flag"]), None)
    if index is None:
        return None
    rule = rules[index]
    if rule["operator"] in (">", ">="):
        new = round(rule["value"] + FLAG_VALUE_STEP, 6)
    elif rule["operator"] in ("<", "<="):
        new = round(rule["value"] - FLAG_VALUE_STEP, 6)
    else:
        return None
    return {
        "path": f"flag_rules[{index}].value",
        "old": rule["value"],
        "new": new,
        "rationale": (
            f"flag {rule['name']} fires on {numbers['rate']:.0%} of decisions; tightening "
            f"{rule['feature']} {rule['operator']} {rule['value']} by {FLAG_VALUE_STEP} makes "
            "it fire on fewer (flags do not change bands; the escalation effect needs feature "
            "data the aggregates do not hold)"
        ),
        "apply": lambda p: p["flag_rules"][index].__setitem__("value", new),
    }


def _margin_change(finding: CalibrationFinding, payload: dict[str, Any]) -> dict[str, Any] | None:
    numbers = finding.numbers
    margin = float(payload.get("confidence_margin", 0.1))
    factor = min(numbers["ece"] * 2, MAX_MARGIN_FACTOR)
    if numbers["direction"] == "overconfident":
        new = min(1.0, round(margin * (1 + factor), 4))
    else:
        new = round(margin * (1 - factor), 4)
    if new == margin or new <= 0:
        return None
    return {
        "path": "confidence_margin",
        "old": margin,
        "new": new,
        "rationale": (
            f"confidence is {numbers['direction']} (ECE {numbers['ece']:.3f}); a confidence "
            f"margin of {new} instead of {margin} "
            f"{'lowers' if new > margin else 'raises'} the confidence of every decision"
        ),
        "apply": lambda p: p.__setitem__("confidence_margin", new),
    }


def derive_changes(
    report: CalibrationReport, payload: Mapping[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """The proposed payload, its changes (each naming its finding, rationale and impact
    estimate) and the findings that led to no change (with why)."""
    metrics = report.snapshot.metrics
    proposed = copy.deepcopy(dict(payload))
    changes: list[dict[str, Any]] = []
    unchanged: list[dict[str, Any]] = []
    for finding in report.findings.all():
        change = None
        reason = ""
        if finding.kind == FindingKind.BOUNDARY_CROWDING:
            change = _threshold_change(finding, proposed, metrics)
            reason = "no nearby bucket edge is less crowded"
        elif finding.kind == FindingKind.FLAG_TRIGGERING:
            change = _flag_change(finding, proposed)
            reason = "a flag that never fires needs a human decision (keep, change or remove)"
        elif finding.kind == FindingKind.CONFIDENCE_ALIGNMENT:
            change = _margin_change(finding, proposed)
            reason = "the confidence margin cannot move further"
        else:
            reason = "escalation patterns need a human decision on escalate_on"
        if change is None:
            unchanged.append(
                {
                    "finding": finding.code,
                    "kind": finding.kind,
                    "title": finding.title,
                    "reason": reason,
                }
            )
            continue
        before = copy.deepcopy(proposed)
        change.pop("apply")(proposed)
        changes.append(
            {
                "id": f"C{len(changes) + 1}",
                "path": change["path"],
                "old": change["old"],
                "new": change["new"],
                "finding": {
                    "code": finding.code,
                    "kind": finding.kind,
                    "severity": finding.severity,
                    "title": finding.title,
                },
                "rationale": change["rationale"],
                "impact": impact_estimate(metrics, before, proposed),
            }
        )
    return proposed, changes, unchanged


def _free_version(tenant_id: int, start: str) -> str:
    taken = set(
        ConfigVersion.objects.filter(tenant_id=tenant_id, family__name=SCORING).values_list(
            "version", flat=True
        )
    )
    candidate = next_version(start)
    while candidate in taken:
        candidate = next_version(candidate)
    return candidate


def _nothing(
    report: CalibrationReport,
    message: str,
    now: dt.datetime,
    *,
    base: ConfigVersion | None = None,
    findings_without_change: list[dict[str, Any]] | None = None,
) -> ConfigProposal:
    return ConfigProposal.objects.create(
        tenant_id=report.tenant_id,
        report=report,
        status=ProposalStatus.NOTHING_TO_PROPOSE,
        message=message,
        base_version=base,
        change_summary={
            "proposed_version": None,
            "base_version": base.version if base else None,
            "message": message,
            "changes": [],
            "findings_without_change": findings_without_change or [],
        },
        created_at=now,
    )


@transaction.atomic
def proposal_generate(
    *, report: CalibrationReport, actor: Actor, now: dt.datetime | None = None
) -> ConfigProposal:
    """Phase 3: at most one proposed scoring version (the next free minor version of the
    ACTIVE one), registered as PENDING_APPROVAL with source=calibration. Never activates.
    Running it twice for a report returns the first proposal."""
    now = _now(now)
    existing = ConfigProposal.objects.filter(report=report).first()
    if existing is not None:
        return existing
    report = CalibrationReport.objects.select_related("snapshot", "tenant").get(pk=report.pk)
    if not report.findings.exists():
        proposal = _nothing(report, "the report has no findings: nothing to propose", now)
    else:
        proposal = _propose(report=report, actor=actor, now=now)
    ledger_append(
        tenant=report.tenant_id,
        kind="calibration.proposal_generated",
        actor=actor,
        subject=proposal,
        payload={
            "report": report.pk,
            "status": proposal.status,
            "message": proposal.message,
            "proposed_version": proposal.change_summary.get("proposed_version"),
        },
        now=now,
    )
    return proposal


def _propose(*, report: CalibrationReport, actor: Actor, now: dt.datetime) -> ConfigProposal:
    active = _active_scoring(report.tenant_id)
    if active is None:
        return _nothing(report, "no ACTIVE scoring version to base a proposal on", now)
    pending = ConfigVersion.objects.filter(
        tenant_id=report.tenant_id,
        family__name=SCORING,
        source=VersionSource.CALIBRATION,
        state__in=[VersionState.DRAFT, VersionState.PENDING_APPROVAL],
    ).first()
    if pending is not None:
        return _nothing(
            report,
            f"calibration proposal v{pending.version} still awaits a decision: nothing new "
            "proposed",
            now,
            base=active,
        )
    proposed, changes, unchanged = derive_changes(report, active.payload)
    if not changes:
        return _nothing(
            report,
            "the findings call for human judgement: no config change derived",
            now,
            findings_without_change=unchanged,
            base=active,
        )
    version = _free_version(report.tenant_id, active.version)
    combined = impact_estimate(report.snapshot.metrics, active.payload, proposed)
    summary = {
        "proposed_version": version,
        "base_version": active.version,
        "report": report.pk,
        "snapshot": report.snapshot_id,
        "window": {
            "start": report.snapshot.window_start.isoformat(),
            "end": report.snapshot.window_end.isoformat(),
        },
        "created_by": actor.label,
        "created_at": now.isoformat(),
        "changes": changes,
        "impact": combined,
        "findings_without_change": unchanged,
        "activation": "never automatic: a reviewer approves, then activates",
    }
    registered = version_register(
        tenant=report.tenant,
        family=SCORING,
        version=version,
        payload=proposed,
        actor=actor,
        description=(
            f"Calibration proposal from report {report.pk} "
            f"({report.snapshot.window_days}-day window, {report.snapshot.decision_count} "
            f"decisions): {len(changes)} change(s)"
        ),
        changes=[
            {
                "description": f"{c['path']}: {c['old']} -> {c['new']} ({c['finding']['code']} "
                f"{c['finding']['kind']}; {c['impact']['band_change_share']:.1%} of decisions "
                "change band)",
                "date": now.date().isoformat(),
                "impact": "non-breaking",
                "affected_components": ["scoring"],
            }
            for c in changes
        ],
        base_version=active,
        source=VersionSource.CALIBRATION,
        submit=True,
        now=now,
    )
    return ConfigProposal.objects.create(
        tenant_id=report.tenant_id,
        report=report,
        status=ProposalStatus.PROPOSED,
        message=f"proposed scoring v{version} with {len(changes)} change(s), awaiting approval",
        base_version=active,
        proposed_version=registered,
        change_summary=summary,
        created_at=now,
    )


# ---------------------------------------------------------------------------------------
# Exports (files are written after the rows are committed; they are copies, not state)


def artifact_dir(tenant: Tenant, output_dir: str | Path | None = None) -> Path:
    base = Path(output_dir) if output_dir else Path(settings.GOVLOOP_ARTIFACT_DIR)
    directory = base / tenant.slug
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _write(path: Path, document: Mapping[str, Any]) -> Path:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=2, sort_keys=True, default=str))
    tmp.replace(path)
    return path


def snapshot_document(snapshot: MetricsSnapshot) -> dict[str, Any]:
    return {
        "kind": "metrics_snapshot",
        "id": snapshot.pk,
        "tenant": snapshot.tenant.slug,
        "created_at": snapshot.created_at.isoformat(),
        "window": {
            "start": snapshot.window_start.isoformat(),
            "end": snapshot.window_end.isoformat(),
            "days": snapshot.window_days,
        },
        "config_version": snapshot.config_version,
        "metrics": snapshot.metrics,
    }


def report_document(report: CalibrationReport) -> dict[str, Any]:
    return {
        "kind": "calibration_report",
        "id": report.pk,
        "tenant": report.tenant.slug,
        "snapshot": report.snapshot_id,
        "created_at": report.created_at.isoformat(),
        "config_version": report.config_version,
        "parameters": report.parameters,
        "summary": report.summary,
        "findings": [
            {
                "code": f.code,
                "kind": f.kind,
                "severity": f.severity,
                "title": f.title,
                "numbers": f.numbers,
            }
            for f in report.findings.all()
        ],
    }


def snapshot_export(*, snapshot: MetricsSnapshot, output_dir: str | Path | None = None) -> Path:
    path = artifact_dir(snapshot.tenant, output_dir) / snapshot.export_name
    return _write(path, snapshot_document(snapshot))


def report_export(*, report: CalibrationReport, output_dir: str | Path | None = None) -> Path:
    path = artifact_dir(report.tenant, output_dir) / report.export_name
    return _write(path, report_document(report))


def proposal_export(
    *, proposal: ConfigProposal, output_dir: str | Path | None = None
) -> list[Path]:
    """``scoring_config_vX.Y.Z.json`` and ``change_summary_vX.Y.Z.json``; nothing when the
    report proposed nothing."""
    version = proposal.proposed_version
    if version is None:
        return []
    directory = artifact_dir(proposal.tenant, output_dir)
    config = {
        "family": SCORING,
        "version": version.version,
        "base_version": proposal.base_version.version if proposal.base_version else None,
        "source": version.source,
        "state": version.state,
        "payload": version.payload,
    }
    return [
        _write(directory / f"scoring_config_v{version.version}.json", config),
        _write(directory / f"change_summary_v{version.version}.json", proposal.change_summary),
    ]


# ---------------------------------------------------------------------------------------
# The whole pipeline


def calibration_pipeline_run(
    *,
    tenant: Tenant,
    actor: Actor,
    window_days: int = DEFAULT_WINDOW_DAYS,
    output_dir: str | Path | None = None,
    export: bool = True,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """collect -> analyze -> propose, each phase committed on its own (a failed proposal
    keeps the snapshot and the report), then the exports."""
    step = progress or (lambda _label: None)
    now = _now(now)
    snapshot = metrics_collect(tenant=tenant, actor=actor, window_days=window_days, now=now)
    step("collected")
    report = report_analyze(snapshot=snapshot, actor=actor, now=now)
    step("analyzed")
    proposal = proposal_generate(report=report, actor=actor, now=now)
    step("proposed")
    files: list[Path] = []
    if export:
        files.append(snapshot_export(snapshot=snapshot, output_dir=output_dir))
        files.append(report_export(report=report, output_dir=output_dir))
        files.extend(proposal_export(proposal=proposal, output_dir=output_dir))
    step("exported")
    return {
        "snapshot": snapshot,
        "report": report,
        "proposal": proposal,
        "files": files,
    }


# ---------------------------------------------------------------------------------------
# Schedules

PIPELINE_TASK = "calibration.tasks.pipeline.calibration_pipeline_scheduled"
SCHEDULED_MIN_INTERVAL = dt.timedelta(hours=24)


def pipeline_schedule_name(tenant: Tenant) -> str:
    return f"calibration pipeline: {tenant.slug}"


def pipeline_schedule_ensure(*, tenant: Tenant) -> None:
    """The tenant's weekly pipeline run (Monday 03:00 UTC), editable in the admin; an
    existing schedule is left as the admin set it."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="0",
        hour="3",
        day_of_week="1",
        day_of_month="*",
        month_of_year="*",
        timezone="UTC",
    )
    PeriodicTask.objects.get_or_create(
        name=pipeline_schedule_name(tenant),
        defaults={
            "task": PIPELINE_TASK,
            "crontab": crontab,
            "kwargs": json.dumps({"tenant_id": tenant.pk}),
        },
    )


def calibration_pipeline_scheduled(
    *,
    tenant_id: int,
    window_days: int = DEFAULT_WINDOW_DAYS,
    output_dir: str | Path | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any] | None:
    """The beat entry point: runs the pipeline unless a snapshot was collected for the
    tenant in the last 24 hours, so a redelivered or doubled task does nothing."""
    now = _now(now)
    with transaction.atomic():
        # The tenant row lock serialises concurrent deliveries of the same run.
        tenant = Tenant.objects.select_for_update().filter(pk=tenant_id).first()
        if tenant is None:
            return None
        recent = MetricsSnapshot.objects.filter(
            tenant=tenant, created_at__gt=now - SCHEDULED_MIN_INTERVAL
        ).exists()
        if recent:
            return None
        return calibration_pipeline_run(
            tenant=tenant,
            actor=Actor.system("calibration-beat"),
            window_days=window_days,
            output_dir=output_dir,
            now=now,
        )
