"""The scorer on the server. The one-row scorer (``score``, ``Scorer``, ``ScoreResult``,
derived features and operators) is the client package's pure-Python ``govloop_client.scoring``,
imported here so that the runtime endpoint and every governed system that scores locally run
the same code; ``score_matrix`` / ``score_many`` are its numpy twins for many rows at once
(replays), held to identical results by the property tests, and ``scorer_operations`` counts
the scorer's primitive operations per case (the learning loop's measured cost). The formula
is in ``govloop_client.scoring``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from govloop_client.scoring import (
    ABSTAIN,
    COMPARISON_OPERATORS,
    DEFAULT_CONFIDENCE_MARGIN,
    DERIVED_OPS,
    MAGNITUDE_OPERATORS,
    OPERATORS,
    Scorer,
    ScoreResult,
    derived_values,
    features_used,
    score,
)

__all__ = [
    "ABSTAIN",
    "COMPARISON_OPERATORS",
    "DEFAULT_CONFIDENCE_MARGIN",
    "DERIVED_OPS",
    "MAGNITUDE_OPERATORS",
    "BatchScores",
    "FeatureMatrix",
    "ScoreResult",
    "Scorer",
    "classify_scores",
    "derived_values",
    "features_used",
    "score",
    "score_many",
    "score_matrix",
    "scorer_operations",
    "with_derived",
]


def _derive(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Derived values over operand columns (NaN = missing, and missing propagates); a ratio
    over 0 is missing. The one-row path calls it with one-element arrays, so both paths
    perform the same IEEE operations."""
    if op == "product":
        return a * b
    if op == "difference":
        return a - b
    if op == "min":
        return np.minimum(a, b)
    if op == "max":
        return np.maximum(a, b)
    zero = b == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(zero, np.nan, a / np.where(zero, 1.0, b))


@dataclass(frozen=True)
class BatchScores:
    """Column arrays for n cases. ``flag_matrix[i, j]`` says whether flag ``flag_names[j]``
    fired for case i; ``band_index`` indexes ``bands``."""

    scores: np.ndarray
    band_index: np.ndarray
    confidence: np.ndarray
    flag_matrix: np.ndarray
    escalate: np.ndarray
    abstain: np.ndarray
    bands: tuple[str, ...]
    flag_names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def band_names(self) -> list[str]:
        return [self.bands[i] for i in self.band_index.tolist()]

    def decisions(self) -> list[str]:
        names = np.array(self.bands, dtype=object)[self.band_index]
        return np.where(self.abstain, ABSTAIN, names).tolist()

    def result(self, i: int) -> ScoreResult:
        band = self.bands[int(self.band_index[i])]
        return ScoreResult(
            score=float(self.scores[i]),
            band=band,
            confidence=float(self.confidence[i]),
            flags=tuple(n for j, n in enumerate(self.flag_names) if self.flag_matrix[i, j]),
            escalate=bool(self.escalate[i]),
            decision=ABSTAIN if self.abstain[i] else band,
        )


@dataclass(frozen=True)
class FeatureMatrix:
    """Features as a float matrix (NaN = missing) with named columns."""

    names: tuple[str, ...]
    values: np.ndarray

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> FeatureMatrix:
        ordered = tuple(sorted(set(names)))
        values = np.full((len(rows), len(ordered)), np.nan, dtype=np.float64)
        for j, name in enumerate(ordered):
            column = [row.get(name) for row in rows]
            values[:, j] = [np.nan if v is None else float(v) for v in column]
        return cls(names=ordered, values=values)

    def column(self, name: str) -> np.ndarray:
        try:
            return self.values[:, self.names.index(name)]
        except ValueError:
            return np.full(self.values.shape[0], np.nan)


def with_derived(payload: Mapping[str, Any], features: FeatureMatrix) -> FeatureMatrix:
    """``features`` plus the payload's derived feature columns (replacing inputs of the same
    name), computed from the input columns."""
    derived = payload.get("derived_features", [])
    if not derived:
        return features
    names = [name for name in features.names if name not in {d["name"] for d in derived}]
    columns = [features.column(name) for name in names]
    for item in derived:
        names.append(item["name"])
        columns.append(_derive(item["op"], features.column(item["a"]), features.column(item["b"])))
    n = features.values.shape[0]
    values = np.column_stack(columns) if columns else np.empty((n, 0))
    return FeatureMatrix(names=tuple(names), values=values.reshape(n, len(names)))


def scorer_operations(payload: Mapping[str, Any], features: FeatureMatrix) -> np.ndarray:
    """Primitive operations the scorer performs on each case (a deterministic measure of
    evaluation cost, unlike wall time): bias 1; per weight a multiply and an add; clip 2;
    per threshold a comparison and a distance, then the confidence 1 and the abstain test 1;
    per derived feature two presence tests, plus its operation when both operands are present
    (a ratio also tests its divisor); per flag rule a presence test, plus its comparison when
    the feature is present (a magnitude operator also takes the absolute value); one test per
    escalating flag."""
    n = features.values.shape[0]
    thresholds = len(payload["thresholds"])
    ops = np.full(n, 1 + 2 * len(payload["weights"]) + 2 + 2 * thresholds + 2, dtype=np.int64)
    for item in payload.get("derived_features", []):
        both = ~np.isnan(features.column(item["a"])) & ~np.isnan(features.column(item["b"]))
        ops += 2 + both * (2 if item["op"] == "ratio" else 1)
    matrix = with_derived(payload, features)
    for rule in payload.get("flag_rules", []):
        present = ~np.isnan(matrix.column(rule["feature"]))
        ops += 1 + present * (2 if rule["operator"] in MAGNITUDE_OPERATORS else 1)
    ops += len(payload.get("escalate_on", []))
    return ops


def classify_scores(
    payload: Mapping[str, Any], scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Band index, confidence and abstention of already computed scores in [0, 1]: the part
    of the scorer that depends on the thresholds (used to re-score a histogram when a
    proposal moves a threshold)."""
    scores = np.asarray(scores, dtype=np.float64)
    thresholds = np.asarray(payload["thresholds"], dtype=np.float64)
    band_index = np.searchsorted(thresholds, scores, side="right")
    distance = np.min(np.abs(scores[:, None] - thresholds[None, :]), axis=1)
    margin = float(payload.get("confidence_margin", DEFAULT_CONFIDENCE_MARGIN))
    confidence = np.minimum(1.0, distance / margin)
    abstain = confidence < float(payload.get("min_confidence", 0.0))
    return band_index, confidence, abstain


def score_matrix(payload: Mapping[str, Any], features: FeatureMatrix) -> BatchScores:
    features = with_derived(payload, features)
    n = features.values.shape[0]
    raw = np.full(n, float(payload.get("bias", 0.0)))
    # Accumulate in sorted feature order: the same order for one row and for a million, so
    # the scalar and the vectorised paths give bit-identical floats.
    for name in sorted(payload["weights"]):
        column = np.nan_to_num(features.column(name), nan=0.0)
        raw = raw + float(payload["weights"][name]) * column
    scores = np.clip(raw, 0.0, 1.0)
    band_index, confidence, abstain = classify_scores(payload, scores)

    rules = payload.get("flag_rules", [])
    flag_matrix = np.zeros((n, len(rules)), dtype=bool)
    for j, rule in enumerate(rules):
        column = features.column(rule["feature"])
        present = ~np.isnan(column)
        with np.errstate(invalid="ignore"):
            fired = OPERATORS[rule["operator"]](column, float(rule["value"]))
        flag_matrix[:, j] = fired & present
    flag_names = tuple(rule["name"] for rule in rules)
    escalate_on = set(payload.get("escalate_on", []))
    escalating = [j for j, name in enumerate(flag_names) if name in escalate_on]
    escalate = flag_matrix[:, escalating].any(axis=1) if escalating else np.zeros(n, dtype=bool)
    return BatchScores(
        scores=scores,
        band_index=band_index,
        confidence=confidence,
        flag_matrix=flag_matrix,
        escalate=escalate,
        abstain=abstain,
        bands=tuple(payload["bands"]),
        flag_names=flag_names,
    )


def score_many(payload: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> BatchScores:
    return score_matrix(payload, FeatureMatrix.from_rows(rows, features_used(payload)))
