"""Reads shared by the API, the admin, services, commands and other apps."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from calibration.models import ConfigProposal, PatternCalibration, band_for
from calibration.models.patterns import DEFAULT_STRONG_THRESHOLD, DEFAULT_WEAK_THRESHOLD
from calibration.scoring import score
from governance.errors import NotFound
from governance.models import ConfigVersion
from governance.selectors import active_config
from governance.services.rollouts import config_for_case


def pattern_calibration(*, tenant_id: int, pattern: str) -> PatternCalibration | None:
    return PatternCalibration.objects.filter(tenant_id=tenant_id, pattern=pattern).first()


def pattern_band(*, tenant_id: int, pattern: str, confidence: float) -> str:
    """STRONG | WEAK | NOVEL for a confidence of this pattern: by its empirical thresholds once
    calibrated, by the defaults (STRONG >= 0.85, WEAK >= 0.6) before."""
    calibration = pattern_calibration(tenant_id=tenant_id, pattern=pattern)
    if calibration is None:
        return band_for(confidence, DEFAULT_STRONG_THRESHOLD, DEFAULT_WEAK_THRESHOLD)
    return calibration.get_calibrated_band(confidence)


def adaptive_confidence_report(*, tenant_id: int) -> dict[str, Any]:
    """The seed's ``AdaptiveConfidenceSystem.get_confidence_report``: per-pattern thresholds,
    global accuracy and counts, for one tenant."""
    rows = list(PatternCalibration.objects.filter(tenant_id=tenant_id).order_by("pattern"))
    total = sum(r.total_matches for r in rows)
    correct = sum(r.correct_matches for r in rows)
    return {
        "total_patterns": len(rows),
        "calibrated_patterns": sum(1 for r in rows if r.is_calibrated),
        "total_predictions": total,
        "global_accuracy": (correct / total) if total else None,
        "defaults": {"strong": DEFAULT_STRONG_THRESHOLD, "weak": DEFAULT_WEAK_THRESHOLD},
        "patterns": [
            {
                "pattern": r.pattern,
                "total_matches": r.total_matches,
                "correct_matches": r.correct_matches,
                "false_positives": r.false_positives,
                "accuracy": r.accuracy,
                "is_calibrated": r.is_calibrated,
                "strong_threshold": r.strong_threshold,
                "weak_threshold": r.weak_threshold,
                "recalibrated_at": r.recalibrated_at.isoformat() if r.recalibrated_at else None,
            }
            for r in rows
        ],
    }


# The score endpoint reads the ACTIVE version through a per-process memo in front of the
# shared cache: at most one cache round trip per second per process. A version switch saved
# in this process forgets the memo at once (see calibration.models.pipeline); other processes
# may apply the previous version for up to RUNTIME_MEMO_SECONDS, and every response names the
# version it applied.
RUNTIME_MEMO_SECONDS = 1.0
_runtime_memo: dict[tuple[int, str], tuple[float, dict[str, Any] | None]] = {}


def runtime_config(*, tenant_id: int, family: str = "scoring") -> dict[str, Any] | None:
    key = (tenant_id, family)
    now = time.monotonic()
    hit = _runtime_memo.get(key)
    if hit is not None and now - hit[0] < RUNTIME_MEMO_SECONDS:
        return hit[1]
    value = active_config(tenant_id=tenant_id, family=family)
    _runtime_memo[key] = (now, value)
    return value


def forget_runtime_config(*, tenant_id: int) -> None:
    for key in [key for key in _runtime_memo if key[0] == tenant_id]:
        _runtime_memo.pop(key, None)


def runtime_score(
    *, tenant_id: int, features: Mapping[str, float], client_id: str | None = None
) -> dict[str, Any]:
    """Score one case with the tenant's ACTIVE scoring version (the cached runtime read), or,
    with a ``client_id`` while a rollout is live, with the version of the case's cohort (a
    stable split). Names the version used. A pure read: it never changes any config."""
    split = None
    if client_id is not None:
        split = config_for_case(tenant_id=tenant_id, family="scoring", client_id=client_id)
    config = split if split is not None and "id" in split else None
    if config is None:
        config = runtime_config(tenant_id=tenant_id, family="scoring")
    if config is None:
        raise NotFound("no ACTIVE scoring version for this tenant")
    result = score(config["payload"], features)
    response = {
        **result.as_dict(),
        "version": {"id": config["id"], "version": config["version"]},
    }
    if split is not None:
        response["rollout"] = split["rollout"]
    return response


def proposal_for_version(version: ConfigVersion) -> ConfigProposal | None:
    """The calibration proposal behind a config version (None for other versions)."""
    return (
        ConfigProposal.objects.select_related("report", "base_version")
        .filter(proposed_version=version)
        .first()
    )
