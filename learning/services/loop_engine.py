"""The pure core of the active learning loop (seed 002): classification of backtest cases,
failure analysis, bounded proposal generation, sandbox replay and the promotion gate.

Everything here is a function of its arguments: no database, no clock in the results, no
randomness. Reports carry rounded floats and sorted keys so that the same inputs serialise to
byte-identical JSON. Wall-clock and tracemalloc figures are returned separately
(``measurements``) and never enter a hashed report.
"""

from __future__ import annotations

import copy
import hashlib
import math
import re
import statistics
import time
import tracemalloc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from calibration.scoring import (
    ABSTAIN,
    DEFAULT_CONFIDENCE_MARGIN,
    MAGNITUDE_OPERATORS,
    BatchScores,
    FeatureMatrix,
    derived_values,
    features_used,
    score,
    score_matrix,
    scorer_operations,
)
from governance.schemas import validate_payload
from governance.services.ledger import canonical_json

HIT, MISS = "HIT", "MISS"
STATUS_NAMES = (HIT, MISS, ABSTAIN)  # status codes 0, 1, 2
HIT_CODE, MISS_CODE, ABSTAIN_CODE = 0, 1, 2
CONFIDENCE_LEVELS = ("LOW", "MED", "HIGH")
DEFAULT_RUNS = 3
DEFAULT_DECLARED_THRESHOLD = 0.10
COST_TOLERANCE = 0.20
MAX_WEIGHT_STEP = 0.5
KIND_ORDER = {
    "threshold_adjustment": 0,
    "flag_rule_adjustment": 1,
    "weight_adjustment": 2,
    "new_operator": 3,
    "new_metric": 4,
}
STRUCTURAL_KINDS = ("new_metric", "new_operator")
MAX_NEW_WEIGHT = 1.0
# The rent each grammar element declares: primitive operations per case (two presence tests
# and the operation; a ratio also tests its divisor), plus a weight's multiply and add.
DERIVED_RENT_OPS = {"product": 3, "difference": 3, "min": 3, "max": 3, "ratio": 4}
WEIGHT_RENT_OPS = 2
DERIVED_RENT_BYTES_PER_CASE = 8  # one float64 column
MAGNITUDE_RENT_OPS = 1  # the absolute value
# A magnitude operator that fires where its comparison does not: the closed set of swaps.
OPERATOR_SWAPS = {">=": "abs>=", ">": "abs>"}


def r6(value: float) -> float:
    """Rounded for reports: stable text, and -0.0 folded into 0.0."""
    rounded = round(float(value), 6)
    return 0.0 if rounded == 0 else rounded


def sha256_of(document: Any) -> str:
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


def confidence_level(value: float) -> str:
    """LOW below 1/3, MED below 2/3, HIGH from 2/3 (of the scorer's confidence in [0, 1])."""
    if value >= 2 / 3:
        return "HIGH"
    if value >= 1 / 3:
        return "MED"
    return "LOW"


def confidence_levels(values: np.ndarray) -> np.ndarray:
    return np.where(values >= 2 / 3, 2, np.where(values >= 1 / 3, 1, 0))


# --------------------------------------------------------------------------------------------
# Cases and their expectations


@dataclass(frozen=True)
class CaseSet:
    """Backtest cases as replayable columns; the feature matrix is built once per set."""

    case_ids: tuple[str, ...]
    rows: tuple[Mapping[str, Any], ...]
    expected_decision: tuple[str, ...]
    expected_flags: tuple[tuple[str, ...], ...]
    expected_escalate: tuple[bool | None, ...]
    protected: np.ndarray
    feature_names: tuple[str, ...] = ()
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_records(
        cls, records: Sequence[Mapping[str, Any]], feature_names: Sequence[str]
    ) -> CaseSet:
        ordered = sorted(records, key=lambda r: r["case_id"])
        return cls(
            case_ids=tuple(r["case_id"] for r in ordered),
            rows=tuple(r["features"] for r in ordered),
            expected_decision=tuple(r["expected_decision"] for r in ordered),
            expected_flags=tuple(tuple(r.get("expected_flags") or ()) for r in ordered),
            expected_escalate=tuple(r.get("expected_escalate") for r in ordered),
            protected=np.array([bool(r.get("protected")) for r in ordered], dtype=bool),
            feature_names=tuple(sorted(set(feature_names))),
        )

    def __len__(self) -> int:
        return len(self.case_ids)

    @cached_property
    def matrix(self) -> FeatureMatrix:
        return FeatureMatrix.from_rows(self.rows, self.feature_names)

    @cached_property
    def index(self) -> dict[str, int]:
        return {case_id: i for i, case_id in enumerate(self.case_ids)}

    def subset(self, positions: Sequence[int]) -> CaseSet:
        picked = sorted(set(positions))
        subset = CaseSet(
            case_ids=tuple(self.case_ids[i] for i in picked),
            rows=tuple(self.rows[i] for i in picked),
            expected_decision=tuple(self.expected_decision[i] for i in picked),
            expected_flags=tuple(self.expected_flags[i] for i in picked),
            expected_escalate=tuple(self.expected_escalate[i] for i in picked),
            protected=self.protected[picked] if picked else np.zeros(0, dtype=bool),
            feature_names=self.feature_names,
        )
        if "matrix" in self.__dict__:
            values = self.matrix.values[picked] if picked else self.matrix.values[:0]
            object.__setattr__(
                subset, "matrix", FeatureMatrix(names=self.matrix.names, values=values)
            )
        return subset

    def expectations(self, bands: Sequence[str], flag_names: Sequence[str]) -> Expectations:
        key = (tuple(bands), tuple(flag_names))
        if key not in self._cache:
            self._cache[key] = Expectations.build(self, bands, flag_names)
        return self._cache[key]


@dataclass(frozen=True)
class Expectations:
    """A case set's expectations as arrays aligned with one payload's bands and flags,
    arranged so that classifying a replay is a handful of vector operations."""

    band_index: np.ndarray  # expected band position; -1 expects ABSTAIN; -2 names no band
    expects_abstain: np.ndarray
    flag_columns: tuple[tuple[int, np.ndarray], ...]  # (rule j, "flag j not required") pairs
    possible: np.ndarray  # False when a case expects a flag no rule produces
    escalate_free: np.ndarray | None  # None when no case constrains escalation
    escalate_wanted: np.ndarray | None

    @classmethod
    def build(cls, cases: CaseSet, bands: Sequence[str], flag_names: Sequence[str]) -> Expectations:
        n = len(cases)
        band_pos = {band: i for i, band in enumerate(bands)}
        band_index = np.array(
            [-1 if d == ABSTAIN else band_pos.get(d, -2) for d in cases.expected_decision],
            dtype=np.int64,
        )
        flag_pos = {name: j for j, name in enumerate(flag_names)}
        required = np.zeros((n, len(flag_names)), dtype=bool)
        possible = np.ones(n, dtype=bool)
        for i, flags in enumerate(cases.expected_flags):
            for flag in flags:
                j = flag_pos.get(flag)
                if j is None:
                    possible[i] = False
                else:
                    required[i, j] = True
        flag_columns = tuple(
            (j, np.ascontiguousarray(~required[:, j]))
            for j in range(len(flag_names))
            if required[:, j].any()
        )
        escalate = np.array(
            [-1 if e is None else int(bool(e)) for e in cases.expected_escalate], dtype=np.int8
        )
        constrained = bool((escalate >= 0).any())
        return cls(
            band_index=band_index,
            expects_abstain=band_index == -1,
            flag_columns=flag_columns,
            possible=possible,
            escalate_free=(escalate < 0) if constrained else None,
            escalate_wanted=(escalate == 1) if constrained else None,
        )


def classify(batch: BatchScores, expected: Expectations) -> np.ndarray:
    """Status codes per case: HIT when the decision, the expected flags and the expected
    escalation all hold; ABSTAIN when the scorer abstained on a case that expected a band;
    MISS otherwise."""
    ok = np.where(batch.abstain, expected.expects_abstain, batch.band_index == expected.band_index)
    ok &= expected.possible
    for j, not_required in expected.flag_columns:
        ok &= batch.flag_matrix[:, j] | not_required
    if expected.escalate_free is not None:
        ok &= expected.escalate_free | (batch.escalate == expected.escalate_wanted)
    codes = np.full(ok.shape[0], MISS_CODE, dtype=np.int8)
    codes[batch.abstain & ~expected.expects_abstain] = ABSTAIN_CODE
    codes[ok] = HIT_CODE
    return codes


def payload_feature_names(*payloads: Mapping[str, Any]) -> tuple[str, ...]:
    names: set[str] = set()
    for payload in payloads:
        names.update(features_used(payload))
    return tuple(sorted(names))


def replay(payload: Mapping[str, Any], cases: CaseSet) -> tuple[BatchScores, np.ndarray]:
    batch = score_matrix(payload, cases.matrix)
    return batch, classify(batch, cases.expectations(batch.bands, batch.flag_names))


def summarise(statuses: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    n = int(statuses.shape[0])
    hits = int((statuses == HIT_CODE).sum())
    return {
        "backtest_pass_rate": r6(hits / n) if n else 0.0,
        "hit_count": hits,
        "miss_count": int((statuses == MISS_CODE).sum()),
        "abstain_count": int((statuses == ABSTAIN_CODE).sum()),
        "avg_score": r6(float(scores.mean())) if n else 0.0,
    }


def results_hash(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Component 1: failure analysis


def _fmt_path_rule(j: int) -> str:
    return f"flag_rules[{j}].value"


def _rule_fires(operator: str, x: float, value: float) -> bool:
    return {
        ">": x > value,
        ">=": x >= value,
        "<": x < value,
        "<=": x <= value,
        "==": x == value,
        "!=": x != value,
        "abs>": abs(x) > value,
        "abs>=": abs(x) >= value,
        "abs<": abs(x) < value,
        "abs<=": abs(x) <= value,
    }[operator]


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


@dataclass(frozen=True)
class Observation:
    """What the scorer did with one case, recomputed term by term for the diagnosis."""

    raw: float
    score: float
    band_index: int
    confidence: float
    flags: tuple[str, ...]
    escalate: bool
    abstain: bool
    contributions: tuple[tuple[str, float, float | None, float], ...]  # feature, w, x, w*x

    @property
    def decision(self) -> str:
        return ABSTAIN if self.abstain else ""


def observe(payload: Mapping[str, Any], features: Mapping[str, Any]) -> Observation:
    features = derived_values(payload, features)
    raw = float(payload.get("bias", 0.0))
    contributions = []
    for name in sorted(payload["weights"]):
        weight = float(payload["weights"][name])
        x = _number(features.get(name))
        contribution = weight * (x if x is not None else 0.0)
        raw += contribution
        contributions.append((name, weight, x, contribution))
    score = min(1.0, max(0.0, raw))
    thresholds = [float(t) for t in payload["thresholds"]]
    band_index = sum(1 for t in thresholds if t <= score)
    margin = float(payload.get("confidence_margin", DEFAULT_CONFIDENCE_MARGIN))
    confidence = min(1.0, min(abs(score - t) for t in thresholds) / margin)
    flags = []
    for rule in payload.get("flag_rules", []):
        x = _number(features.get(rule["feature"]))
        if x is not None and _rule_fires(rule["operator"], x, float(rule["value"])):
            flags.append(rule["name"])
    escalate = bool(set(flags) & set(payload.get("escalate_on", [])))
    abstain = confidence < float(payload.get("min_confidence", 0.0))
    return Observation(
        raw, score, band_index, confidence, tuple(flags), escalate, abstain, tuple(contributions)
    )


HYPOTHESIS_PRIORITY = (
    "signal_gap_missing_features",
    "flag_rule_too_strict",
    "flag_rule_too_loose",
    "min_confidence_too_strict",
    "threshold_too_high",
    "threshold_too_low",
    "expectation_unreachable",
)


def analyze_failure(
    *,
    payload: Mapping[str, Any],
    case: Mapping[str, Any],
    status: str,
    run_id: str,
    config_version: str,
) -> dict[str, Any]:
    """The deterministic artifact for one failed case (a MISS or an ABSTAIN): what was
    expected, what decided the outcome and by how much, which signals were missing, and the
    rule-based hypothesis with its suggested adjustments. No inference, no randomness."""
    features = case["features"]
    obs = observe(payload, features)
    bands = list(payload["bands"])
    thresholds = [float(t) for t in payload["thresholds"]]
    rules = list(payload.get("flag_rules", []))
    escalate_on = set(payload.get("escalate_on", []))
    min_confidence = float(payload.get("min_confidence", 0.0))
    band = bands[obs.band_index]
    decision = ABSTAIN if obs.abstain else band
    expected = case["expected_decision"]
    expected_index = bands.index(expected) if expected in bands else None

    unmet: list[dict[str, Any]] = []
    decided_by: list[dict[str, Any]] = []
    falsifiers: list[dict[str, Any]] = []
    hypotheses: set[str] = set()
    suggestions: list[str] = []

    if expected != decision:
        unmet.append({"kind": "decision", "expected": expected, "actual": decision})
    if obs.abstain and expected != ABSTAIN:
        decided_by.append(
            {
                "element": "min_confidence",
                "kind": "threshold",
                "value": r6(min_confidence),
                "observed": r6(obs.confidence),
                "margin": r6(obs.confidence - min_confidence),
            }
        )
        if expected == band:
            hypotheses.add("min_confidence_too_strict")
            suggestions.append("lower_min_confidence")
    if expected_index is not None and expected_index != obs.band_index:
        low, high = sorted((expected_index, obs.band_index))
        for i in range(low, high):
            decided_by.append(
                {
                    "element": f"thresholds[{i}]",
                    "kind": "threshold",
                    "value": r6(thresholds[i]),
                    "observed": r6(obs.score),
                    "margin": r6(obs.score - thresholds[i]),
                }
            )
        if expected_index > obs.band_index:
            hypotheses.add("threshold_too_high")
            suggestions.append(f"lower_threshold:thresholds[{obs.band_index}]")
        else:
            hypotheses.add("threshold_too_low")
            suggestions.append(f"raise_threshold:thresholds[{obs.band_index - 1}]")
        weighted = [c for c in obs.contributions if c[2] not in (None, 0.0)]
        if weighted:
            top = max(weighted, key=lambda c: (abs(c[3]), c[0]))
            decided_by.append(
                {
                    "element": f"weights.{top[0]}",
                    "kind": "weight",
                    "value": r6(top[1]),
                    "observed": r6(top[2]),
                    "contribution": r6(top[3]),
                }
            )
            direction = "raise" if expected_index > obs.band_index else "lower"
            suggestions.append(f"{direction}_weight:{top[0]}")
    elif expected_index is None and expected != ABSTAIN:
        hypotheses.add("expectation_unreachable")
        unmet.append({"kind": "unknown_band", "expected": expected, "bands": bands})

    rule_by_name = {rule["name"]: (j, rule) for j, rule in enumerate(rules)}
    for flag in sorted(set(case.get("expected_flags") or ())):
        if flag in obs.flags:
            continue
        if flag not in rule_by_name:
            unmet.append({"kind": "flag", "flag": flag, "reason": "no rule produces this flag"})
            hypotheses.add("expectation_unreachable")
            continue
        j, rule = rule_by_name[flag]
        x = _number(features.get(rule["feature"]))
        unmet.append(
            {
                "kind": "flag",
                "flag": flag,
                "feature": rule["feature"],
                "operator": rule["operator"],
                "expected_value": r6(rule["value"]),
                "actual_value": None if x is None else r6(x),
            }
        )
        decided_by.append(
            {
                "element": _fmt_path_rule(j),
                "kind": "flag_rule",
                "value": r6(rule["value"]),
                "observed": None if x is None else r6(x),
                "margin": None if x is None else r6(x - float(rule["value"])),
            }
        )
        if x is None:
            hypotheses.add("signal_gap_missing_features")
            suggestions.append(f"collect_feature:{rule['feature']}")
        else:
            hypotheses.add("flag_rule_too_strict")
            suggestions.append(f"relax_flag_rule:{flag}")

    wants_escalation = case.get("expected_escalate")
    if wants_escalation is not None and bool(wants_escalation) != obs.escalate:
        unmet.append(
            {"kind": "escalate", "expected": bool(wants_escalation), "actual": obs.escalate}
        )
        if obs.escalate:
            for flag in obs.flags:
                if flag not in escalate_on:
                    continue
                j, rule = rule_by_name[flag]
                x = _number(features.get(rule["feature"]))
                falsifiers.append({"flag": flag, "feature": rule["feature"], "value": r6(x)})
                decided_by.append(
                    {
                        "element": _fmt_path_rule(j),
                        "kind": "flag_rule",
                        "value": r6(rule["value"]),
                        "observed": r6(x),
                        "margin": r6(x - float(rule["value"])),
                    }
                )
                suggestions.append(f"tighten_flag_rule:{flag}")
            hypotheses.add("flag_rule_too_loose")
        elif not any(u["kind"] == "flag" for u in unmet):
            hypotheses.add("flag_rule_too_strict")

    used = features_used(payload)
    missing = sorted(name for name in used if _number(features.get(name)) is None)
    out_of_range = [
        {"feature": name, "value": r6(_number(features.get(name)))}
        for name in sorted(payload["weights"])
        if _number(features.get(name)) is not None and not 0.0 <= _number(features.get(name)) <= 1.0
    ]
    unused = sorted(set(features) - set(used))
    # A missing weighted feature scores as 0: a likely cause of a score below its band.
    if (
        missing
        and "signal_gap_missing_features" not in hypotheses
        and set(missing) & set(payload["weights"])
        and "threshold_too_high" in hypotheses
    ):
        hypotheses.add("signal_gap_missing_features")
        suggestions.extend(f"collect_feature:{name}" for name in missing)
    ordered = [h for h in HYPOTHESIS_PRIORITY if h in hypotheses] or ["expectation_unreachable"]
    return {
        "failure_id": failure_id_for(case["case_id"], run_id),
        "case_id": case["case_id"],
        "run_id": run_id,
        "config_version": config_version,
        "backtest_result": {
            "status": status,
            "decision": decision,
            "band": band,
            "score": r6(obs.score),
            "raw_score": r6(obs.raw),
            "confidence": confidence_level(obs.confidence),
            "confidence_value": r6(obs.confidence),
            "flags": list(obs.flags),
            "escalate": obs.escalate,
        },
        "expected": {
            "decision": expected,
            "flags": sorted(set(case.get("expected_flags") or ())),
            "escalate": wants_escalation,
            "protected": bool(case.get("protected")),
        },
        "unmet_expectations": unmet,
        "hit_falsifiers": falsifiers,
        "decided_by": decided_by,
        "contributions": [
            {
                "feature": name,
                "weight": r6(w),
                "value": None if x is None else r6(x),
                "contribution": r6(c),
            }
            for name, w, x, c in obs.contributions
        ],
        "signal_gaps": {
            "missing_features": missing,
            "out_of_range": out_of_range,
            "unused_features": unused,
        },
        "hypothesis": ordered[0],
        "secondary_hypotheses": ordered[1:],
        "suggested_adjustments": list(dict.fromkeys(suggestions)),
    }


def failure_id_for(case_id: str, run_id: str) -> str:
    return f"failure_{case_id}_{run_id}"


def failure_markdown(artifact: Mapping[str, Any]) -> str:
    result = artifact["backtest_result"]
    expected = artifact["expected"]
    lines = [
        f"# Failure analysis {artifact['failure_id']}",
        "",
        f"- case: `{artifact['case_id']}`" + (" (protected)" if expected["protected"] else ""),
        f"- run: `{artifact['run_id']}` under config v{artifact['config_version']}",
        f"- status: **{result['status']}** (decision {result['decision']}, score "
        f"{result['score']}, confidence {result['confidence']} {result['confidence_value']})",
        f"- expected: {expected['decision']}, flags {expected['flags'] or 'none'}, escalate "
        f"{'any' if expected['escalate'] is None else expected['escalate']}",
        f"- hypothesis: **{artifact['hypothesis']}**",
        "",
        "## Unmet expectations",
        "",
    ]
    lines += [f"- `{canonical_json(u)}`" for u in artifact["unmet_expectations"]] or ["- none"]
    lines += ["", "## Decided by", "", "| element | kind | value | observed | margin |"]
    lines += ["| --- | --- | --- | --- | --- |"]
    for d in artifact["decided_by"]:
        lines.append(
            f"| `{d['element']}` | {d['kind']} | {d['value']} | {d['observed']} | "
            f"{d.get('margin', d.get('contribution'))} |"
        )
    gaps = artifact["signal_gaps"]
    lines += [
        "",
        "## Signal gaps",
        "",
        f"- missing features: {', '.join(gaps['missing_features']) or 'none'}",
        f"- out of range: {canonical_json(gaps['out_of_range']) if gaps['out_of_range'] else 'none'}",
        f"- unused features: {', '.join(gaps['unused_features']) or 'none'}",
        "",
        "## Suggested adjustments",
        "",
    ]
    lines += [f"- {s}" for s in artifact["suggested_adjustments"]] or ["- none"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Component 2: bounded proposal generation


_PATH = re.compile(
    r"^(?:thresholds\[(\d+)\]|flag_rules\[(\d+)\]\.value|weights\.(.+)|min_confidence)$"
)


def apply_change(payload: Mapping[str, Any], path: str, new: float) -> dict[str, Any]:
    """A copy of ``payload`` with the one change applied (in memory only)."""
    changed = copy.deepcopy(dict(payload))
    match = _PATH.match(path)
    if not match:
        raise ValueError(f"unsupported change path {path!r}")
    if match[1] is not None:
        changed["thresholds"][int(match[1])] = new
    elif match[2] is not None:
        changed["flag_rules"][int(match[2])]["value"] = new
    elif match[3] is not None:
        changed["weights"][match[3]] = new
    else:
        changed["min_confidence"] = new
    return changed


@dataclass(frozen=True)
class Candidate:
    """One change. ``old``/``new`` are numbers for parameter changes; a new operator's are
    operator names, a new metric's the weight (old 0) with ``structure`` its definition."""

    kind: str
    path: str
    old: Any
    new: Any
    description: str
    structure: tuple = ()

    def sort_key(self) -> tuple:
        return (KIND_ORDER[self.kind], self.path, self.new)


def _floor2(x: float) -> float:
    """The largest two-decimal value not above x (checked, because x * 100 can round up)."""
    value = round(math.floor(x * 100) / 100, 2)
    while value > x:
        value = round(value - 0.01, 2)
    return value


def _ceil2(x: float) -> float:
    """The smallest two-decimal value not below x."""
    value = round(math.ceil(x * 100) / 100, 2)
    while value < x:
        value = round(value + 0.01, 2)
    return value


def _step(*values: float) -> float:
    return 1.0 if all(float(v).is_integer() for v in values) else 0.01


def _clean(x: float) -> float | int:
    x = round(x, 6)
    return int(x) if float(x).is_integer() and abs(x) >= 1 else x


def candidates_for(payload: Mapping[str, Any], case: Mapping[str, Any]) -> list[Candidate]:
    """Every single bounded change that could turn this failed case into a HIT: a flag rule
    value moved just far enough to fire (or stop firing), the band threshold between the
    actual and the expected band moved past the score, one weight moved (at most
    MAX_WEIGHT_STEP) to carry the score into the expected band, or min_confidence lowered to
    the case's confidence."""
    features = case["features"]
    obs = observe(payload, features)
    bands = list(payload["bands"])
    thresholds = [float(t) for t in payload["thresholds"]]
    margin = float(payload.get("confidence_margin", DEFAULT_CONFIDENCE_MARGIN))
    min_confidence = float(payload.get("min_confidence", 0.0))
    clearance = min_confidence * margin
    expected = case["expected_decision"]
    found: list[Candidate] = []

    for j, rule in enumerate(payload.get("flag_rules", [])):
        x = _number(features.get(rule["feature"]))
        if x is None:
            continue
        old = float(rule["value"])
        fires = rule["name"] in obs.flags
        wants_fire = rule["name"] in set(case.get("expected_flags") or ())
        wants_quiet = (
            case.get("expected_escalate") is False
            and obs.escalate
            and rule["name"] in set(payload.get("escalate_on", []))
            and fires
        )
        step = _step(x, old)
        op = rule["operator"]
        new: float | None = None
        if wants_fire and not fires:
            new = {">=": x, "<=": x, ">": x - step, "<": x + step, "==": x}.get(op)
            verb = "Relax"
        elif wants_quiet:
            new = {">=": x + step, ">": x, "<=": x - step, "<": x, "==": x + step}.get(op)
            verb = "Tighten"
        if new is not None and new != old:
            new = _clean(new)
            found.append(
                Candidate(
                    "flag_rule_adjustment",
                    _fmt_path_rule(j),
                    _clean(old),
                    new,
                    f"{verb} flag rule {rule['name']} ({rule['feature']} {op} {_clean(old)}) "
                    f"to {rule['feature']} {op} {new}.",
                )
            )

    if obs.abstain and expected == bands[obs.band_index]:
        new = _floor2(obs.confidence)
        if new < min_confidence:
            found.append(
                Candidate(
                    "threshold_adjustment",
                    "min_confidence",
                    _clean(min_confidence),
                    _clean(new),
                    f"Lower min_confidence from {_clean(min_confidence)} to {_clean(new)}.",
                )
            )

    if expected in bands and bands.index(expected) != obs.band_index:
        e, a = bands.index(expected), obs.band_index
        if e == a + 1:
            i = a
            new = _floor2(obs.score - clearance)
            lower = thresholds[i - 1] if i > 0 else 0.0
            if lower < new < thresholds[i]:
                found.append(
                    Candidate(
                        "threshold_adjustment",
                        f"thresholds[{i}]",
                        _clean(thresholds[i]),
                        _clean(new),
                        f"Lower the {bands[a]}/{bands[e]} threshold from "
                        f"{_clean(thresholds[i])} to {_clean(new)}.",
                    )
                )
        elif e == a - 1:
            i = e
            new = _ceil2(obs.score + clearance)
            if new <= obs.score:
                new = round(new + 0.01, 2)
            upper = thresholds[i + 1] if i + 1 < len(thresholds) else 1.0
            if thresholds[i] < new < upper:
                found.append(
                    Candidate(
                        "threshold_adjustment",
                        f"thresholds[{i}]",
                        _clean(thresholds[i]),
                        _clean(new),
                        f"Raise the {bands[e]}/{bands[a]} threshold from "
                        f"{_clean(thresholds[i])} to {_clean(new)}.",
                    )
                )
        if e > a:
            target = thresholds[e - 1] + clearance + 0.005
        else:
            target = thresholds[e] - clearance - 0.005
        for name, weight, x, _contribution in obs.contributions:
            if x in (None, 0.0):
                continue
            step = (target - obs.raw) / x
            if abs(step) > MAX_WEIGHT_STEP:
                continue
            new = round(weight + step, 4)
            found.append(
                Candidate(
                    "weight_adjustment",
                    f"weights.{name}",
                    _clean(weight),
                    _clean(new),
                    f"Change the weight of {name} from {_clean(weight)} to {_clean(new)}.",
                )
            )
    return sorted(set(found), key=Candidate.sort_key)


def apply_candidate(payload: Mapping[str, Any], candidate: Candidate) -> dict[str, Any]:
    """A copy of ``payload`` with the candidate applied (in memory only)."""
    if candidate.kind == "new_metric":
        changed = copy.deepcopy(dict(payload))
        item = dict(candidate.structure)
        changed["derived_features"] = [*changed.get("derived_features", []), item]
        changed["weights"] = {**changed["weights"], item["name"]: candidate.new}
        return changed
    if candidate.kind == "new_operator":
        changed = copy.deepcopy(dict(payload))
        j = int(candidate.path.removeprefix("flag_rules[").split("]")[0])
        changed["flag_rules"][j]["operator"] = candidate.new
        return changed
    return apply_change(payload, candidate.path, candidate.new)


def _change_of(candidate: Candidate) -> dict[str, Any]:
    if candidate.kind == "new_metric":
        return {
            "path": candidate.path,
            "old": None,
            "new": {"derived_feature": dict(candidate.structure), "weight": candidate.new},
        }
    return {"path": candidate.path, "old": candidate.old, "new": candidate.new}


def operator_candidates_for(payload: Mapping[str, Any], case: Mapping[str, Any]) -> list[Candidate]:
    """A flag rule that should fire on this case, whose feature's magnitude passes the rule's
    value on the other side of zero: swap its comparison for the magnitude operator (the
    closed set OPERATOR_SWAPS), keeping the value."""
    features = case["features"]
    obs = observe(payload, features)
    wanted = set(case.get("expected_flags") or ())
    found = []
    for j, rule in enumerate(payload.get("flag_rules", [])):
        x = _number(features.get(rule["feature"]))
        new = OPERATOR_SWAPS.get(rule["operator"])
        if x is None or new is None or rule["name"] not in wanted or rule["name"] in obs.flags:
            continue
        if not _rule_fires(new, x, float(rule["value"])):
            continue
        found.append(
            Candidate(
                "new_operator",
                f"flag_rules[{j}].operator",
                rule["operator"],
                new,
                f"Give flag rule {rule['name']} the magnitude operator: {rule['feature']} "
                f"{new} {_clean(float(rule['value']))} (was {rule['operator']}).",
            )
        )
    return found


def metric_candidates_for(payload: Mapping[str, Any], case: Mapping[str, Any]) -> list[Candidate]:
    """New metrics from the closed grammar (DERIVED_RENT_OPS over two of the payload's input
    features present in the case), each weighted (at most MAX_NEW_WEIGHT) to carry the
    case's score into its expected band."""
    features = case["features"]
    obs = observe(payload, features)
    bands = list(payload["bands"])
    expected = case["expected_decision"]
    if expected not in bands or bands.index(expected) == obs.band_index:
        return []
    thresholds = [float(t) for t in payload["thresholds"]]
    margin = float(payload.get("confidence_margin", DEFAULT_CONFIDENCE_MARGIN))
    clearance = float(payload.get("min_confidence", 0.0)) * margin
    e = bands.index(expected)
    if e > obs.band_index:
        target = thresholds[e - 1] + clearance + 0.005
    else:
        target = thresholds[e] - clearance - 0.005
    taken = set(payload["weights"]) | {d["name"] for d in payload.get("derived_features", [])}
    inputs = [name for name in features_used(payload) if _number(features.get(name)) is not None]
    found = []
    for op in sorted(DERIVED_RENT_OPS):
        symmetric = op in ("product", "min", "max")
        for a in inputs:
            for b in inputs:
                if a == b or (symmetric and a > b):
                    continue
                name = f"{op}_{a}_{b}"[:64]
                structure = (("a", a), ("b", b), ("name", name), ("op", op))
                if name in taken:
                    continue
                probe = {"weights": {}, "derived_features": [dict(structure)]}
                d = derived_values(probe, features).get(name)
                if d in (None, 0.0):
                    continue
                weight = round((target - obs.raw) / d, 4)
                if weight == 0 or abs(weight) > MAX_NEW_WEIGHT:
                    continue
                found.append(
                    Candidate(
                        "new_metric",
                        f"derived_features.{name}",
                        0,
                        _clean(weight),
                        f"Add the metric {name} = {op}({a}, {b}) with weight {_clean(weight)}.",
                        structure,
                    )
                )
    return sorted(found, key=Candidate.sort_key)


def rent_manifest_for(
    payload: Mapping[str, Any],
    proposed: Mapping[str, Any],
    candidate: Candidate,
    case: Mapping[str, Any],
) -> dict[str, Any]:
    """What a structural change declares it will cost (from the grammar's rent table) and
    what it will do to the failed case; the sandbox measures both."""
    if candidate.kind == "new_metric":
        ops = DERIVED_RENT_OPS[dict(candidate.structure)["op"]] + WEIGHT_RENT_OPS
        per_case = DERIVED_RENT_BYTES_PER_CASE
    else:
        ops, per_case = MAGNITUDE_RENT_OPS, 0
    before, after = score(payload, case["features"]), score(proposed, case["features"])
    return {
        "kind": candidate.kind,
        "evaluation_ops_per_case": ops,
        "memory_bytes_per_case": per_case,
        "payload_bytes": len(canonical_json(proposed)) - len(canonical_json(payload)),
        "expected_delta": {
            "case_id": case["case_id"],
            "score_before": r6(before.score),
            "score_after": r6(after.score),
            "decision_after": after.decision,
        },
    }


def _affected_positions(
    payload: Mapping[str, Any],
    candidate: Candidate,
    cases: CaseSet,
    baseline: BatchScores,
    changed: np.ndarray,
) -> np.ndarray:
    """Cases that use the changed element (the seed's impact analysis), plus every case whose
    outcome the change alters."""
    match = _PATH.match(candidate.path)
    if candidate.kind in STRUCTURAL_KINDS:
        proposed = apply_candidate(payload, candidate)
        matrix = cases.matrix
        if candidate.kind == "new_metric":
            item = dict(candidate.structure)
            uses = ~np.isnan(matrix.column(item["a"])) & ~np.isnan(matrix.column(item["b"]))
        else:
            rule = proposed["flag_rules"][int(candidate.path.split("[")[1].split("]")[0])]
            uses = ~np.isnan(matrix.column(rule["feature"]))
    elif match[1] is not None:
        i = int(match[1])
        uses = (baseline.band_index == i) | (baseline.band_index == i + 1)
    elif match[2] is not None:
        feature = payload["flag_rules"][int(match[2])]["feature"]
        uses = ~np.isnan(cases.matrix.column(feature))
    elif match[3] is not None:
        column = cases.matrix.column(match[3])
        uses = ~np.isnan(column) & (column != 0)
    else:
        uses = baseline.confidence < max(candidate.old, candidate.new)
    return np.flatnonzero(uses | changed)


def _outcome_changed(a: BatchScores, b: BatchScores) -> np.ndarray:
    changed = (a.band_index != b.band_index) | (a.abstain != b.abstain) | (a.escalate != b.escalate)
    if a.flag_matrix.shape == b.flag_matrix.shape and a.flag_matrix.shape[1]:
        changed |= (a.flag_matrix != b.flag_matrix).any(axis=1)
    return changed


def generate_proposal(
    *,
    payload: Mapping[str, Any],
    base_version: str,
    failure: Mapping[str, Any],
    case: Mapping[str, Any],
    cases: CaseSet,
    declared_threshold: float = DEFAULT_DECLARED_THRESHOLD,
    runs: int = DEFAULT_RUNS,
    cache: dict | None = None,
) -> dict[str, Any] | None:
    """Exactly one proposal for a failure, or None when no bounded change turns the case into
    a HIT. Each candidate is replayed over all the tenant's cases; the one with the highest
    expected improvement (net cases fixed) wins, ties broken by fewer regressions, fewer
    protected regressions, then kind (threshold, flag rule, weight), path and value.

    ``cache`` (one dict per payload and case set) keeps replays across failures: many
    failures of one run share a candidate (the same rule value), which is replayed once."""
    cache = {} if cache is None else cache
    if "baseline" not in cache:
        cache["baseline"] = replay(payload, cases)
    baseline, base_status = cache["baseline"]
    target = cases.index[case["case_id"]]

    def score_all(candidates: list[Candidate]) -> list[tuple]:
        scored = []
        for candidate in candidates:
            proposed = apply_candidate(payload, candidate)
            if validate_payload("scoring", proposed):
                continue
            key = (candidate.path, candidate.new, candidate.structure)
            if key not in cache:
                cache[key] = replay(proposed, cases)
            batch, status = cache[key]
            if status[target] != HIT_CODE:
                continue
            fixed = (base_status != HIT_CODE) & (status == HIT_CODE)
            broken = (base_status == HIT_CODE) & (status != HIT_CODE)
            net = int(fixed.sum()) - int(broken.sum())
            rank = (-net, int(broken.sum()), int((broken & cases.protected).sum()))
            scored.append(
                ((*rank, candidate.sort_key()), candidate, proposed, batch, status, fixed, broken)
            )
        return scored

    scored = score_all(candidates_for(payload, case) + operator_candidates_for(payload, case))
    if not scored:
        # A new metric pays rent on every case: the loop proposes one only when no bounded
        # parameter change or operator swap turns the case into a HIT, and only one that
        # keeps every protected case (a grammar search finds many; one that breaks a
        # protected case is not worth its rent, and the failure stays for a human).
        scored = [
            entry for entry in score_all(metric_candidates_for(payload, case)) if entry[0][2] == 0
        ]
    if not scored:
        return None
    _key, candidate, proposed, batch, status, fixed, broken = min(scored, key=lambda s: s[0])
    changed = _outcome_changed(baseline, batch)
    affected = _affected_positions(payload, candidate, cases, baseline, changed)
    protected = set(np.flatnonzero(cases.protected).tolist())
    sandbox_positions = sorted(set(affected.tolist()) | protected | {target})
    sandbox_positions_arr = np.array(sandbox_positions, dtype=np.int64)
    n = len(sandbox_positions)
    base_rate = float((base_status[sandbox_positions_arr] == HIT_CODE).sum()) / n
    new_rate = float((status[sandbox_positions_arr] == HIT_CODE).sum()) / n
    proposal_id = proposal_id_for(failure["failure_id"])
    names = cases.case_ids
    extra = {}
    if candidate.kind in STRUCTURAL_KINDS:
        extra["rent_manifest"] = rent_manifest_for(payload, proposed, candidate, case)
    return {
        **extra,
        "proposal_id": proposal_id,
        "source_failure_id": failure["failure_id"],
        "proposal_type": candidate.kind,
        "base_version": base_version,
        "change": _change_of(candidate),
        "change_description": candidate.description + f" Hypothesis: {failure['hypothesis']}.",
        "affected_components": [candidate.path],
        "selection": {
            "rule": "highest net cases fixed over all backtest cases; ties: fewer "
            "regressions, fewer protected regressions, kind, path, value",
            "candidates_considered": len(scored),
            "net_cases_fixed": int(fixed.sum()) - int(broken.sum()),
        },
        "expected_delta": {
            "improved_cases": [names[i] for i in np.flatnonzero(fixed)],
            "regression_risk": [names[i] for i in np.flatnonzero(broken)],
            "protected_at_risk": [names[i] for i in np.flatnonzero(broken & cases.protected)],
            "baseline_pass_rate": r6(base_rate),
            "proposal_pass_rate": r6(new_rate),
            "backtest_pass_rate_delta": r6(new_rate - base_rate),
        },
        "validation_plan": {
            "sandbox_cases": [names[i] for i in sorted(set(affected.tolist()) | {target})],
            "protected_cases": [names[i] for i in np.flatnonzero(cases.protected)],
            "stabilization_runs": runs,
            "declared_threshold": r6(declared_threshold),
        },
        "proposed_payload": proposed,
    }


def proposal_id_for(failure_id: str) -> str:
    return "proposal_" + failure_id.removeprefix("failure_")


# --------------------------------------------------------------------------------------------
# Component 3: sandbox replay, and component 4: the gate


def cost_proxy(payload: Mapping[str, Any], n: int) -> tuple[int, int]:
    """Deterministic cost of scoring n cases with ``payload``: element operations (time) and
    bytes of the arrays the scorer allocates (memory). Used by the gate because wall-clock
    and allocator figures on a shared machine vary run to run by more than 20%."""
    weights = len(payload["weights"])
    thresholds = len(payload["thresholds"])
    rules = payload.get("flag_rules", [])
    derived = len(payload.get("derived_features", []))
    magnitude = sum(1 for rule in rules if rule["operator"] in MAGNITUDE_OPERATORS)
    operations = n * (2 * weights + 3 * thresholds + 2 * len(rules) + 6 + 3 * derived + magnitude)
    memory = n * (8 * (weights + 2 * thresholds + 5 + derived) + 2 * len(rules) + 3)
    return operations, memory


def measure_rent(
    *,
    base_payload: Mapping[str, Any],
    proposal_payload: Mapping[str, Any],
    cases: CaseSet,
    failed_case_id: str,
    prop_batch: BatchScores,
) -> dict[str, Any]:
    """What a structural change really costs on the replayed cases: the largest number of
    primitive operations it adds to one case's evaluation (counted, not timed, so reports
    stay byte-identical), the bytes per case of the columns it adds, the bytes it adds to the
    payload, and what it did to the failed case."""
    added = scorer_operations(proposal_payload, cases.matrix) - scorer_operations(
        base_payload, cases.matrix
    )
    columns = len(proposal_payload.get("derived_features", [])) - len(
        base_payload.get("derived_features", [])
    )
    measured: dict[str, Any] = {
        "evaluation_ops_per_case": int(added.max()) if added.size else 0,
        "memory_bytes_per_case": 8 * columns,
        "payload_bytes": len(canonical_json(proposal_payload)) - len(canonical_json(base_payload)),
        "failed_case": None,
    }
    i = cases.index.get(failed_case_id)
    if i is not None:
        result = prop_batch.result(i)
        measured["failed_case"] = {
            "case_id": failed_case_id,
            "score_after": r6(result.score),
            "decision_after": result.decision,
        }
    return measured


MEMORY_SAMPLE = 2048


def _replay_runs(sides, cases: CaseSet, runs: int, timings: dict[str, list[float]]):
    outcome: dict[str, tuple[BatchScores, np.ndarray]] = {}
    hashes = []
    for run in range(runs):
        # Drop the previous run's arrays first so the allocator reuses their blocks.
        outcome.clear()
        # Alternate which side goes first, so the first replay of a run (fresh pages from
        # the allocator) is not always charged to the baseline.
        for side, payload in sides if run % 2 == 0 else sides[::-1]:
            start = time.perf_counter()
            outcome[side] = replay(payload, cases)
            timings[side].append(time.perf_counter() - start)
        (base_batch, base_status), (prop_batch, prop_status) = (
            outcome["baseline"],
            outcome["proposal"],
        )
        hashes.append(results_hash(base_status, base_batch.scores, prop_status, prop_batch.scores))
    return hashes, base_status, base_batch, prop_status, prop_batch


def _memory_peaks(
    sides: Sequence[tuple[str, Mapping[str, Any]]], matrix: FeatureMatrix
) -> dict[str, float]:
    """tracemalloc peak of scoring with each payload, measured on the first MEMORY_SAMPLE
    rows and scaled to all rows (the scorer's arrays grow linearly with the rows). Tracing
    every timed replay instead would slow the replays themselves by about a half."""
    n = matrix.values.shape[0]
    k = min(n, MEMORY_SAMPLE)
    if k == 0:
        return {side: 0.0 for side, _ in sides}
    sample = FeatureMatrix(names=matrix.names, values=matrix.values[:k])
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    peaks = {}
    try:
        for side, payload in sides:
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            score_matrix(payload, sample)
            peaks[side] = (tracemalloc.get_traced_memory()[1] - before) * n / k
    finally:
        if started:
            tracemalloc.stop()
    return peaks


def _ratio(new: float, old: float) -> float:
    return r6(new / old) if old else (1.0 if new == old else math.inf)


def sandbox_replay(
    *,
    base_payload: Mapping[str, Any],
    proposal_payload: Mapping[str, Any],
    cases: CaseSet,
    runs: int = DEFAULT_RUNS,
    declared_threshold: float = DEFAULT_DECLARED_THRESHOLD,
    required_runs: int = DEFAULT_RUNS,
    header: Mapping[str, Any] | None = None,
    rent_manifest: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Replays ``cases`` under the baseline and the proposal ``runs`` times and returns
    ``(report, measurements)``. The report is a pure function of the inputs; measurements
    hold the wall-clock medians and tracemalloc peaks, outside the report. A structural
    proposal's ``rent_manifest`` is checked against the measured rent."""
    runs = max(1, int(runs))
    cases.matrix  # built once, outside the timed replays  # noqa: B018
    timings: dict[str, list[float]] = {"baseline": [], "proposal": []}
    sides = [("baseline", base_payload), ("proposal", proposal_payload)]
    hashes, base_status, base_batch, prop_status, prop_batch = _replay_runs(
        sides, cases, runs, timings
    )
    peaks = _memory_peaks(sides, cases.matrix)

    n = len(cases)
    fixed = (base_status != HIT_CODE) & (prop_status == HIT_CODE)
    regressed = (base_status == HIT_CODE) & (prop_status != HIT_CODE)
    protected_regressed = regressed & cases.protected
    baseline = summarise(base_status, base_batch.scores)
    proposal = summarise(prop_status, prop_batch.scores)
    hit_delta = int((prop_status == HIT_CODE).sum()) - int((base_status == HIT_CODE).sum())
    pass_rate_delta = r6(hit_delta / n) if n else 0.0
    time_base, mem_base = cost_proxy(base_payload, n)
    time_prop, mem_prop = cost_proxy(proposal_payload, n)
    score_delta = prop_batch.scores - base_batch.scores
    changed = (base_status != prop_status) | (np.abs(score_delta) > 1e-12)
    shown = np.flatnonzero(changed | cases.protected)
    case_details = _case_details(
        cases,
        shown,
        base_status,
        prop_status,
        base_batch.scores,
        prop_batch.scores,
        fixed,
        regressed,
    )
    stabilization = {
        "runs": runs,
        "required_runs": required_runs,
        "result_hashes": hashes,
        "identical": len(set(hashes)) == 1,
    }
    cost_delta = {
        "basis": "deterministic cost proxy (element operations and scorer array bytes); "
        "wall-clock and tracemalloc medians are in the measurements",
        "time_units_baseline": time_base,
        "time_units_proposal": time_prop,
        "time_units_delta": time_prop - time_base,
        "time_ratio": _ratio(time_prop, time_base),
        "memory_kb_baseline": r6(mem_base / 1024),
        "memory_kb_proposal": r6(mem_prop / 1024),
        "memory_kb_delta": r6((mem_prop - mem_base) / 1024),
        "memory_ratio": _ratio(mem_prop, mem_base),
    }
    delta = {
        "pass_rate_delta": pass_rate_delta,
        "hit_count_delta": proposal["hit_count"] - baseline["hit_count"],
        "avg_score_delta": r6(float(score_delta.mean())) if n else 0.0,
        "fixed_count": int(fixed.sum()),
        "regression_count": int(regressed.sum()),
        "protected_regression_count": int(protected_regressed.sum()),
    }
    rent = None
    if rent_manifest is not None:
        rent = {
            "manifest": dict(rent_manifest),
            "measured": measure_rent(
                base_payload=base_payload,
                proposal_payload=proposal_payload,
                cases=cases,
                failed_case_id=rent_manifest["expected_delta"]["case_id"],
                prop_batch=prop_batch,
            ),
        }
    gate = gate_evaluate(
        rent=rent,
        delta=delta,
        fixed_cases=[cases.case_ids[i] for i in np.flatnonzero(fixed)],
        regressed_cases=[cases.case_ids[i] for i in np.flatnonzero(regressed)],
        protected_regressed_cases=[cases.case_ids[i] for i in np.flatnonzero(protected_regressed)],
        cost_delta=cost_delta,
        stabilization=stabilization,
        declared_threshold=declared_threshold,
    )
    report = {
        **dict(header or {}),
        "case_count": n,
        "protected_case_count": int(cases.protected.sum()),
        "baseline": baseline,
        "proposal": proposal,
        "delta": delta,
        "cost_delta": cost_delta,
        "stabilization": stabilization,
        "case_details": case_details,
        **({"rent": rent} if rent is not None else {}),
        "gate": gate,
        "promotion_eligible": gate["passed"],
    }
    measurements = {
        "note": "wall-clock medians over the runs; tracemalloc peaks of scoring a sample of "
        f"up to {MEMORY_SAMPLE} cases, scaled to all cases; informational, outside the "
        "hashed report and the gate",
        "time_ms": {
            "baseline_median": round(statistics.median(timings["baseline"]) * 1000, 3),
            "proposal_median": round(statistics.median(timings["proposal"]) * 1000, 3),
        },
        "memory_kb": {
            "baseline_peak": round(peaks.get("baseline", 0) / 1024, 1),
            "proposal_peak": round(peaks.get("proposal", 0) / 1024, 1),
        },
    }
    measurements["time_ms_delta"] = round(
        measurements["time_ms"]["proposal_median"] - measurements["time_ms"]["baseline_median"], 3
    )
    measurements["memory_kb_delta"] = round(
        measurements["memory_kb"]["proposal_peak"] - measurements["memory_kb"]["baseline_peak"], 1
    )
    return report, measurements


def _rounded(values: np.ndarray) -> list[float]:
    # + 0.0 folds -0.0 into 0.0, as r6 does for scalars.
    return (np.round(values.astype(np.float64), 6) + 0.0).tolist()


def _case_details(
    cases, shown, base_status, prop_status, base_scores, prop_scores, fixed, regressed
):
    """Per-case rows for the cases whose status or score changed and every protected case,
    built column-wise (thousands of rows at 10,000 cases)."""
    ids = cases.case_ids
    columns = zip(
        shown.tolist(),
        cases.protected[shown].tolist(),
        base_status[shown].tolist(),
        prop_status[shown].tolist(),
        _rounded(base_scores[shown]),
        _rounded(prop_scores[shown]),
        fixed[shown].tolist(),
        regressed[shown].tolist(),
        strict=True,
    )
    return [
        {
            "case_id": ids[i],
            "protected": protected,
            "baseline_status": STATUS_NAMES[b],
            "proposal_status": STATUS_NAMES[p],
            "baseline_score": bs,
            "proposal_score": ps,
            "improved": improved,
            "regressed": worse,
        }
        for i, protected, b, p, bs, ps, improved, worse in columns
    ]


def gate_evaluate(
    *,
    delta: Mapping[str, Any],
    fixed_cases: Sequence[str],
    regressed_cases: Sequence[str],
    protected_regressed_cases: Sequence[str],
    cost_delta: Mapping[str, Any],
    stabilization: Mapping[str, Any],
    declared_threshold: float,
    rent: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The strict promotion gate: fixed criteria, boolean logic, one line per criterion. A
    structural proposal also pays its declared rent: measured cost within the manifest, and
    the failed case where the manifest said it would land."""

    def listed(names: Sequence[str]) -> str:
        shown = ", ".join(names[:20])
        return shown + (f" and {len(names) - 20} more" if len(names) > 20 else "")

    limit = 1 + COST_TOLERANCE
    criteria = [
        {
            "criterion": "improvement_threshold",
            "passed": delta["pass_rate_delta"] >= declared_threshold - 1e-9,
            "detail": f"pass-rate delta {delta['pass_rate_delta']:+.6f} against the declared "
            f"threshold {declared_threshold:.6f}",
        },
        {
            "criterion": "failed_case_now_passes",
            "passed": len(fixed_cases) >= 1,
            "detail": f"now passing: {listed(fixed_cases)}"
            if fixed_cases
            else "no failed case now passes",
        },
        {
            "criterion": "no_protected_regression",
            "passed": not protected_regressed_cases,
            "detail": f"protected case(s) now failing: {listed(protected_regressed_cases)}"
            if protected_regressed_cases
            else "no protected case regresses",
        },
        {
            "criterion": "no_regression",
            "passed": not regressed_cases,
            "detail": f"previously passing case(s) now failing: {listed(regressed_cases)}"
            if regressed_cases
            else "no previously passing case fails",
        },
        {
            "criterion": "time_within_20_percent",
            "passed": cost_delta["time_ratio"] <= limit,
            "detail": f"time cost ratio {cost_delta['time_ratio']} (limit {limit:.2f})",
        },
        {
            "criterion": "memory_within_20_percent",
            "passed": cost_delta["memory_ratio"] <= limit,
            "detail": f"memory cost ratio {cost_delta['memory_ratio']} (limit {limit:.2f})",
        },
        {
            "criterion": "stabilization",
            "passed": stabilization["identical"]
            and stabilization["runs"] >= stabilization["required_runs"],
            "detail": f"{stabilization['runs']} run(s) (required {stabilization['required_runs']}), "
            + ("identical results" if stabilization["identical"] else "results differ"),
        },
    ]
    if rent is not None:
        criteria += _rent_criteria(rent["manifest"], rent["measured"])
    for line in criteria:
        line["passed"] = bool(line["passed"])
    return {
        "declared_threshold": r6(declared_threshold),
        "criteria": criteria,
        "passed": all(line["passed"] for line in criteria),
    }


def _rent_criteria(manifest: Mapping[str, Any], measured: Mapping[str, Any]) -> list[dict]:
    ops, declared_ops = measured["evaluation_ops_per_case"], manifest["evaluation_ops_per_case"]
    memory_ok = (
        measured["memory_bytes_per_case"] <= manifest["memory_bytes_per_case"]
        and measured["payload_bytes"] <= manifest["payload_bytes"]
    )
    expected, failed = manifest["expected_delta"], measured["failed_case"]
    delta_ok = (
        failed is not None
        and failed["decision_after"] == expected["decision_after"]
        and abs(failed["score_after"] - expected["score_after"]) <= 1e-6
    )
    return [
        {
            "criterion": "rent_evaluation_cost_within_manifest",
            "passed": ops <= declared_ops,
            "detail": f"measured {ops} operation(s) per case added (manifest {declared_ops})",
        },
        {
            "criterion": "rent_memory_within_manifest",
            "passed": memory_ok,
            "detail": f"measured {measured['memory_bytes_per_case']} B per case and "
            f"{measured['payload_bytes']} B of payload (manifest "
            f"{manifest['memory_bytes_per_case']} B per case, {manifest['payload_bytes']} B)",
        },
        {
            "criterion": "rent_expected_delta_on_failed_case",
            "passed": delta_ok,
            "detail": f"{expected['case_id']}: expected {expected['decision_after']} at "
            f"{expected['score_after']}, measured "
            + (f"{failed['decision_after']} at {failed['score_after']}" if failed else "nothing"),
        },
    ]
