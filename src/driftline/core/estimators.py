"""What the performance estimators learn from the model's validation split, fitted by the package stage and stored
with the model (monitoring.performance reads it): CBPE's isotonic calibration, in reference.json
(estimation_reference), and the rows DLE's nanny models learn from (NANNY_FILE)."""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression

from driftline.core.task import Task

NANNY_FILE = "nanny.parquet"  # the validation rows (features and target) DLE learns from, in the model's folder
NANNY_ROWS = 20_000  # refitting takes about a second per 5,000 rows; more rows barely sharpen a mean error


def fit_calibration(probability: np.ndarray, y: np.ndarray) -> dict[str, list[float]]:
    """Isotonic map from a probability to the observed rate of Y (0/1), as its knots {"x", "y"}.

    Fitted on the validation split by the package stage; monitoring.performance's calibrate() applies it.
    """
    isotonic = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(probability, y)
    return {"x": isotonic.X_thresholds_.tolist(), "y": isotonic.y_thresholds_.tolist()}


def fit_class_calibrations(probabilities: np.ndarray, y: np.ndarray) -> list[dict[str, list[float]]]:
    """One isotonic calibration per class (one-vs-rest) of class probabilities (rows, classes), labels Y codes."""
    return [fit_calibration(probabilities[:, k], (y == k).astype(np.int64)) for k in range(probabilities.shape[1])]


def estimation_reference(task: Task, answers: dict[str, np.ndarray], y: np.ndarray) -> dict:
    """What CBPE needs of the validation split's ANSWERS and targets Y, for reference.json: the isotonic
    calibration (binary) or one per class (multiclass); nothing for a regression (DLE reads NANNY_FILE)."""
    if task.kind == "binary":
        return {"calibration": fit_calibration(answers["probability"], y)}
    if task.kind == "multiclass":
        return {"calibration": fit_class_calibrations(answers["probabilities"], y)}
    return {}
