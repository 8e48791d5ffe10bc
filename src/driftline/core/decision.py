"""The decision: what is fitted on the validation split after training and served with the model.

- Classification: a temperature (scikit-learn's temperature scaling), sharpening no further than the
  validation rows' accuracy shows (bounded_temperature), kept only where it lowers the validation
  calibration error; the choice and both errors are recorded.
- Binary: the decision threshold on the (scaled) probabilities.
- Regression: a split-conformal prediction interval, from the absolute validation residuals where the
  target's link measures them (core.encoding.TargetScale.residual).
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

from driftline.config import EvaluateParams
from driftline.core.metrics import calibration_error, choose_threshold
from driftline.core.task import Task


class _Logits(ClassifierMixin, BaseEstimator):
    """A trained network as a fitted scikit-learn classifier whose input X is its own logits."""

    def __init__(self, classes: np.ndarray):
        self.classes = classes
        self.classes_ = classes

    def fit(self, X, y):  # noqa: N803 - scikit-learn's names; frozen, never refitted
        return self

    def predict(self, X):  # noqa: N803
        return self.classes_[(X[:, 0] > 0).astype(int) if X.shape[1] == 1 else X.argmax(axis=1)]

    def decision_function(self, X):  # noqa: N803
        # scikit-learn reads a binary decision function d as the logits (-d, d): half the logit.
        return X[:, 0] / 2 if X.shape[1] == 1 else X


def fit_temperature(raw: np.ndarray, y: np.ndarray) -> float:
    """The temperature T (logits / T) that minimises the log loss of labels Y, by CalibratedClassifierCV."""
    classes = np.arange(max(raw.shape[1], 2))
    calibrated = CalibratedClassifierCV(FrozenEstimator(_Logits(classes)), method="temperature").fit(raw, y)
    return float(1 / calibrated.calibrated_classifiers_[0].calibrators[0].beta_)


def confidence(task: Task, raw: np.ndarray, temperature: float) -> tuple[np.ndarray, np.ndarray]:
    """Each row's top-class probability at TEMPERATURE (task.decode) and the class it names (binary: 1 where the
    probability is above 0.5)."""
    answers = task.decode(raw, {"temperature": temperature, "threshold": 0.5})
    if task.kind == "binary":
        p = answers["probability"]
        return np.maximum(p, 1 - p), (p > 0.5).astype(int)
    return answers["probability"], answers["probabilities"].argmax(axis=1)


def bounded_temperature(task: Task, raw: np.ndarray, y: np.ndarray, fitted: float) -> float:
    """FITTED, or where it sharpens (below 1) further than validation can show, the temperature whose rows' mean
    top-class probability equals their Laplace-smoothed accuracy ((right + 1) / (rows + 2)), or 1 where that is
    above it already. On 27 rows all right, the log loss's own optimum is a temperature near 0, a certainty
    that one wrong answer on new rows costs dearly; the rows show an accuracy of 28/29 at most."""
    if fitted >= 1:
        return fitted
    unscaled, predicted = confidence(task, raw, 1.0)
    ceiling = ((predicted == y).sum() + 1) / (len(y) + 2)
    if confidence(task, raw, fitted)[0].mean() <= ceiling:
        return fitted
    if unscaled.mean() >= ceiling:
        return 1.0
    low, high = fitted, 1.0  # mean confidence falls as the temperature rises: bisect for the ceiling
    for _ in range(50):
        middle = (low + high) / 2
        low, high = (middle, high) if confidence(task, raw, middle)[0].mean() > ceiling else (low, middle)
    return high


def fit_decision(task: Task, raw: np.ndarray, y: np.ndarray, params: EvaluateParams, scale=None) -> dict:
    """The decision for validation outputs RAW (rows, outputs) and their targets Y (labels, or the target)."""
    if task.kind == "regression":
        residuals = scale.residual(y, raw[:, 0])
        rank = min(1.0, math.ceil((len(residuals) + 1) * params.interval_level) / len(residuals))
        return {"interval": {"level": params.interval_level,
                             "half_width": float(np.quantile(residuals, rank, method="higher"))}}
    optimum = fit_temperature(raw, y)
    fitted = bounded_temperature(task, raw, y, optimum)
    errors = {name: _calibration_error(task, raw, y, {"temperature": t, "threshold": 0.5}, params.calibration_bins)
              for name, t in (("unscaled", 1.0), ("scaled", fitted))}
    decision = {"temperature": fitted if errors["scaled"] < errors["unscaled"] else 1.0,
                "calibration": {"fitted_temperature": fitted, "applied": errors["scaled"] < errors["unscaled"],
                                "val_calibration_error": errors}}
    if fitted != optimum:
        decision["calibration"]["log_loss_optimum"] = optimum
    if task.kind == "binary":
        p = task.decode(raw, decision | {"threshold": 0.5})["probability"]
        decision["threshold"] = choose_threshold(y, p, params.threshold_objective, params.threshold_tolerance)
        decision["objective"] = params.threshold_objective
    return decision


def _calibration_error(task: Task, raw: np.ndarray, y: np.ndarray, decision: dict, bins: int) -> float:
    answers = task.decode(raw, decision)
    scores = answers["probabilities"] if task.kind == "multiclass" else answers["probability"]
    return calibration_error(y, scores, bins)
