"""The scorer: a pure function of a ``scoring`` payload and features, in plain Python. It is
the one implementation: the server (``calibration.scoring``) imports it for its runtime
endpoint and holds its numpy batch twin to identical results, and governed systems run it
locally through the client.

    derived    = derived_features (product, ratio, difference, min, max of two input
                 features), computed first; missing when an operand is (or a ratio's
                 divisor is 0); a derived feature is weighted and flagged like any other
    raw        = bias + sum(weight[f] * feature[f])      features in sorted name order
    score      = clip(raw, 0, 1)
    band       = bands[number of thresholds <= score]
    distance   = min |score - threshold|
    confidence = min(1, distance / confidence_margin)
    flags      = rules whose (feature operator value) holds; a missing feature never fires
                 (``abs>`` etc. compare |feature| with the value)
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
    # Magnitude operators: the closed set a learning-loop "new operator" proposal draws from.
    # abs() also takes the server's numpy columns, so its batch twin uses this table too.
    "abs>": lambda x, v: abs(x) > v,
    "abs>=": lambda x, v: abs(x) >= v,
    "abs<": lambda x, v: abs(x) < v,
    "abs<=": lambda x, v: abs(x) <= v,
}
COMPARISON_OPERATORS = (">", ">=", "<", "<=", "==", "!=")
MAGNITUDE_OPERATORS = ("abs>", "abs>=", "abs<", "abs<=")
DERIVED_OPS = ("product", "ratio", "difference", "min", "max")


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
    """The input features a payload reads (derived features' operands, not their names)."""
    derived = payload.get("derived_features", [])
    names = set(payload["weights"])
    names.update(rule["feature"] for rule in payload.get("flag_rules", []))
    names.difference_update(item["name"] for item in derived)
    for item in derived:
        names.update((item["a"], item["b"]))
    return tuple(sorted(names))


def derive(op: str, a: float | None, b: float | None) -> float | None:
    """One derived value; missing propagates and a ratio over 0 is missing. Plain float
    arithmetic is IEEE double arithmetic, as the server's numpy columns are: both paths give
    the same bits."""
    if a is None or b is None:
        return None
    if op == "product":
        return a * b
    if op == "difference":
        return a - b
    if op == "min":
        return min(a, b)
    if op == "max":
        return max(a, b)
    if op == "ratio":
        return None if b == 0 else a / b
    raise ValueError(f"unknown derived operation {op!r}")


def derived_values(payload: Mapping[str, Any], features: Mapping[str, Any]) -> dict[str, Any]:
    """One case's features plus its derived features (None when missing)."""
    derived = payload.get("derived_features", [])
    if not derived:
        return dict(features)
    out = dict(features)
    for item in derived:
        value = derive(
            item["op"], _present(features.get(item["a"])), _present(features.get(item["b"]))
        )
        out[item["name"]] = None if value is None or math.isnan(value) else value
    return out


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
        "_derived",
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
        self._derived = tuple(
            (item["name"], item["op"], item["a"], item["b"])
            for item in payload.get("derived_features", [])
        )

    def __call__(self, features: Mapping[str, Any]) -> ScoreResult:
        # The same IEEE operations in the same order as calibration.scoring.score_matrix
        # (bias, then weights in sorted feature order; bisect_right ==
        # searchsorted(side="right")); the property tests hold both to it.
        if self._derived:
            features = dict(features)
            originals = dict(features)
            for name, op, a, b in self._derived:
                value = derive(op, _present(originals.get(a)), _present(originals.get(b)))
                features[name] = None if value is None or math.isnan(value) else value
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
