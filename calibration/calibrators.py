"""Fitting and applying calibrators: pure numpy / scikit-learn, no database.

Settings (documented because a version's parameters are only meaningful with them):

- **Platt scaling** fits ``LogisticRegression(C=inf, solver="lbfgs", tol=1e-10,
  max_iter=1000)`` (unpenalised, as Platt's method) on one feature, the logit of the
  confidence clipped to ``[1e-6, 1 - 1e-6]``. Parameters ``{"a", "b"}`` give
  ``p = 1 / (1 + exp(-(a * logit(c) + b)))``; ``a = 1, b = 0`` is the identity, ``a < 1``
  shrinks over-confident signals toward 0.5.
- **Isotonic** fits ``IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1,
  increasing=True)`` on the confidence; parameters ``{"x", "y"}`` are its
  ``X_thresholds_`` / ``y_thresholds_``, applied by linear interpolation and clipped outside
  ``[x[0], x[-1]]`` exactly as scikit-learn's ``predict``.
- **Metrics**: Brier score, log loss (probabilities clipped to ``[1e-15, 1 - 1e-15]``) and
  expected calibration error over 10 equal-width bins (the sample-weighted mean of
  ``|mean(p) - mean(y)|`` per bin). Cross-validation uses ``StratifiedKFold(shuffle=True,
  random_state=0)``, so the same data give the same fold metrics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

# scikit-learn (and the scipy it loads) takes seconds to import: it is imported where a
# calibrator is fitted, not when the admin or a management command loads this module.

PLATT = "platt_scaling"
ISOTONIC = "isotonic"
METHODS = (PLATT, ISOTONIC)

LOGIT_EPS = 1e-6
PROBA_EPS = 1e-15
ECE_BINS = 10
PLATT_SETTINGS: dict[str, Any] = {"C": np.inf, "solver": "lbfgs", "tol": 1e-10, "max_iter": 1000}
ISOTONIC_SETTINGS: dict[str, Any] = {
    "out_of_bounds": "clip",
    "y_min": 0.0,
    "y_max": 1.0,
    "increasing": True,
}
CV_SEED = 0

# Lower is better for these; every other metric name is accuracy-like (higher is better).
LOWER_IS_BETTER = frozenset(
    {"brier_score", "brier", "log_loss", "logloss", "ece", "expected_calibration_error", "mce"}
)


def lower_is_better(metric: str) -> bool:
    name = metric.lower()
    return name in LOWER_IS_BETTER or name.endswith(("_error", "_loss"))


def logit(confidences: np.ndarray) -> np.ndarray:
    clipped = np.clip(np.asarray(confidences, dtype=np.float64), LOGIT_EPS, 1.0 - LOGIT_EPS)
    return np.log(clipped / (1.0 - clipped))


def platt_estimator() -> LogisticRegression:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(**PLATT_SETTINGS)


def isotonic_estimator() -> IsotonicRegression:
    from sklearn.isotonic import IsotonicRegression

    return IsotonicRegression(**ISOTONIC_SETTINGS)


def fit(method: str, confidences: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Fit a calibrator and return its parameters as JSON-ready values."""
    if method == PLATT:
        model = platt_estimator().fit(logit(confidences).reshape(-1, 1), labels)
        return {
            "a": float(model.coef_[0][0]),
            "b": float(model.intercept_[0]),
            "feature": "logit",
            "eps": LOGIT_EPS,
        }
    if method == ISOTONIC:
        model = isotonic_estimator().fit(np.asarray(confidences, dtype=np.float64), labels)
        return {
            "x": model.X_thresholds_.astype(float).tolist(),
            "y": model.y_thresholds_.astype(float).tolist(),
        }
    raise ValueError(f"unknown calibration method {method!r}")


def apply(method: str, parameters: dict[str, Any], confidences: np.ndarray) -> np.ndarray:
    """Calibrated probabilities for an array of confidences (vectorised)."""
    values = np.asarray(confidences, dtype=np.float64)
    if method == PLATT:
        z = parameters["a"] * logit(values) + parameters["b"]
        return 1.0 / (1.0 + np.exp(-z))
    if method == ISOTONIC:
        xs = np.asarray(parameters["x"], dtype=np.float64)
        ys = np.asarray(parameters["y"], dtype=np.float64)
        if xs.size == 1:
            return np.full_like(values, ys[0])
        # np.interp holds the end values outside [x0, xn]: out_of_bounds="clip".
        return np.interp(values, xs, ys)
    raise ValueError(f"unknown calibration method {method!r}")


def brier_score(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean((probabilities - labels) ** 2))


def log_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    p = np.clip(probabilities, PROBA_EPS, 1.0 - PROBA_EPS)
    return float(-np.mean(labels * np.log(p) + (1.0 - labels) * np.log1p(-p)))


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, n_bins: int = ECE_BINS
) -> float:
    bins = np.minimum((probabilities * n_bins).astype(np.int64), n_bins - 1)
    sum_p = np.bincount(bins, weights=probabilities, minlength=n_bins)
    sum_y = np.bincount(bins, weights=labels, minlength=n_bins)
    return float(np.abs(sum_p - sum_y).sum() / max(len(probabilities), 1))


def scores(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Calibration and accuracy-like metrics of probabilities against 0/1 labels."""
    labels = labels.astype(np.float64)
    predicted = probabilities >= 0.5
    positives = int(predicted.sum())
    true_positives = float(labels[predicted].sum()) if positives else 0.0
    actual = float(labels.sum())
    return {
        "brier_score": brier_score(probabilities, labels),
        "log_loss": log_loss(probabilities, labels),
        "ece": expected_calibration_error(probabilities, labels),
        "accuracy": float(np.mean(predicted == (labels >= 0.5))),
        "precision": true_positives / positives if positives else 0.0,
        "recall": true_positives / actual if actual else 0.0,
        "base_rate": float(labels.mean()) if len(labels) else 0.0,
    }


def cross_validate(
    method: str, confidences: np.ndarray, labels: np.ndarray, folds: int
) -> dict[str, Any]:
    """Out-of-fold metrics: mean and standard deviation over ``folds`` stratified folds, each
    fold's metrics, and the uncalibrated confidences' metrics for comparison."""
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=CV_SEED)
    per_fold = []
    for train, test in splitter.split(np.zeros(len(labels)), labels):
        parameters = fit(method, confidences[train], labels[train])
        per_fold.append(scores(apply(method, parameters, confidences[test]), labels[test]))
    names = ("brier_score", "log_loss", "ece")
    summary: dict[str, Any] = {
        name: float(np.mean([fold[name] for fold in per_fold])) for name in names
    }
    summary["std"] = {name: float(np.std([fold[name] for fold in per_fold])) for name in names}
    summary["folds"] = per_fold
    summary["uncalibrated"] = {
        name: value
        for name, value in scores(np.asarray(confidences, np.float64), labels).items()
        if name in names
    }
    summary["cv_folds"] = folds
    return summary
