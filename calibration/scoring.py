"""The scorer on the server. The one-row scorer (``score``, ``Scorer``, ``ScoreResult``) is
the client package's pure-Python ``govloop_client.scoring``, imported here so that the
runtime endpoint and every governed system that scores locally run the same code;
``score_matrix`` / ``score_many`` are its numpy twins for many rows at once (replays), held
to identical results by the property tests. The formula is in ``govloop_client.scoring``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from govloop_client.scoring import (
    ABSTAIN,
    DEFAULT_CONFIDENCE_MARGIN,
    OPERATORS,
    Scorer,
    ScoreResult,
    features_used,
    score,
)

__all__ = [
    "ABSTAIN",
    "DEFAULT_CONFIDENCE_MARGIN",
    "BatchScores",
    "FeatureMatrix",
    "ScoreResult",
    "Scorer",
    "classify_scores",
    "features_used",
    "score",
    "score_many",
    "score_matrix",
]


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
