"""The scorer: a pure function of a ``scoring`` payload and features, in plain Python. It is
the one implementation: the server (``calibration.scoring``) imports it for its runtime
endpoint and holds its numpy batch twin to identical results, and governed systems run it
locally through the client.

    raw        = bias + sum(weight[f] * feature[f])      features in sorted name order
    score      = clip(raw, 0, 1)
    band       = bands[number of thresholds <= score]
    distance   = min |score - threshold|
    confidence = min(1, distance / confidence_margin)
    flags      = rules whose (feature operator value) holds; a missing feature never fires
    escalate   = any flag in escalate_on
    decision   = "ABSTAIN" if confidence < min_confidence else band
"""

from __future__ import annotations

import bisect
import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ABSTAIN = "ABSTAIN"
DEFAULT_CONFIDENCE_MARGIN = 0.1

OPERATORS = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True)
class ScoreResult:
    score: float
    band: str
    confidence: float
    flags: tuple[str, ...]
    escalate: bool
    decision: str

    @property
    def abstained(self) -> bool:
        return self.decision == ABSTAIN

    def as_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "band": self.band,
            "confidence": self.confidence,
            "flags": list(self.flags),
            "escalate": self.escalate,
            "decision": self.decision,
        }


def features_used(payload: Mapping[str, Any]) -> tuple[str, ...]:
    names = set(payload["weights"])
    names.update(rule["feature"] for rule in payload.get("flag_rules", []))
    return tuple(sorted(names))


def _present(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


class Scorer:
    """A payload read once (sorted weights, float thresholds, rules), then applied to any
    number of cases: a loop of local evaluations pays the payload's parsing once, and
    ``score(payload, features)`` is exactly ``Scorer(payload)(features)``."""

    __slots__ = (
        "_bands",
        "_bias",
        "_escalate_on",
        "_margin",
        "_min_confidence",
        "_rules",
        "_thresholds",
        "_weights",
    )

    def __init__(self, payload: Mapping[str, Any]) -> None:
        self._bias = float(payload.get("bias", 0.0))
        # Sorted feature order: the numpy batch scorer accumulates in the same order, so
        # one row and a million give bit-identical floats.
        self._weights = tuple(
            (name, float(payload["weights"][name])) for name in sorted(payload["weights"])
        )
        self._thresholds = [float(t) for t in payload["thresholds"]]
        self._bands = list(payload["bands"])
        self._margin = float(payload.get("confidence_margin", DEFAULT_CONFIDENCE_MARGIN))
        self._min_confidence = float(payload.get("min_confidence", 0.0))
        self._rules = tuple(
            (rule["name"], rule["feature"], OPERATORS[rule["operator"]], float(rule["value"]))
            for rule in payload.get("flag_rules", [])
        )
        self._escalate_on = frozenset(payload.get("escalate_on", []))

    def __call__(self, features: Mapping[str, Any]) -> ScoreResult:
        # The same IEEE operations in the same order as calibration.scoring.score_matrix
        # (bias, then weights in sorted feature order; bisect_right ==
        # searchsorted(side="right")); the property tests hold both to it.
        raw = self._bias
        for name, weight in self._weights:
            value = _present(features.get(name))
            raw = raw + weight * (0.0 if value is None else value)
        value = min(max(raw, 0.0), 1.0)
        thresholds = self._thresholds
        band = self._bands[bisect.bisect_right(thresholds, value)]
        distance = min(abs(value - t) for t in thresholds)
        confidence = min(1.0, distance / self._margin)
        flags = []
        for name, feature, compare, limit in self._rules:
            present = _present(features.get(feature))
            if present is not None and compare(present, limit):
                flags.append(name)
        return ScoreResult(
            score=value,
            band=band,
            confidence=confidence,
            flags=tuple(flags),
            escalate=any(name in self._escalate_on for name in flags),
            decision=ABSTAIN if confidence < self._min_confidence else band,
        )


def score(payload: Mapping[str, Any], features: Mapping[str, Any]) -> ScoreResult:
    """One case, in plain floats: the runtime endpoint's path and the client's."""
    return Scorer(payload)(features)
