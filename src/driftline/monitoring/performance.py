"""Performance in production: realised where labels have arrived, estimated (CBPE) where they have not."""

from __future__ import annotations

import numpy as np
import pandas as pd
from evidently import BinaryClassification, DataDefinition, Dataset, Report, Run
from evidently.presets import ClassificationPreset
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score

from driftline.core.metrics import classification_metrics
from driftline.errors import MonitorError

# Evidently metric (the end of its config type) that holds each realised figure.
EVIDENTLY_METRICS = {"roc_auc": ":RocAuc", "accuracy": ":Accuracy", "f1": ":F1Score"}


def fit_calibration(probability: np.ndarray, y: np.ndarray) -> dict[str, list[float]]:
    """Isotonic map from the model's probability to the observed positive rate, as its knots {"x", "y"}.

    Fitted on the validation split by the package stage; calibrate() applies it.
    """
    isotonic = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(probability, y)
    return {"x": isotonic.X_thresholds_.tolist(), "y": isotonic.y_thresholds_.tolist()}


def calibrate(calibration: dict[str, list[float]], probability: np.ndarray) -> np.ndarray:
    """Calibrated probabilities: the isotonic knots interpolated (np.interp clips as the fit did)."""
    return np.interp(probability, calibration["x"], calibration["y"])


def realised(y: np.ndarray, probability: np.ndarray, threshold: float, bins: int) -> tuple[dict, Run]:
    """ROC AUC, accuracy and F1 (Evidently's ClassificationPreset) and calibration error (BINS bins, as evaluate
    measures it) on labelled rows, and the Evidently snapshot (`save_html` writes its report).

    Y holds 0/1 labels and both classes; decisions are probability >= THRESHOLD, as the model serves them.
    """
    definition = DataDefinition(classification=[BinaryClassification(target="target", prediction_probas="probability",
                                                                     pos_label=1)])
    data = Dataset.from_pandas(pd.DataFrame({"target": np.asarray(y, dtype=np.int64), "probability": probability}),
                               data_definition=definition)
    snapshot = Report([ClassificationPreset(probas_threshold=threshold)]).run(current_data=data)
    metrics = _read_metrics(snapshot.dict())
    metrics["calibration_error"] = classification_metrics(y, probability, threshold, bins)["calibration_error"]
    return metrics, snapshot


def _read_metrics(report: dict) -> dict[str, float]:
    values = {}
    for metric in report["metrics"]:
        for key, suffix in EVIDENTLY_METRICS.items():
            if metric["config"]["type"].endswith(suffix) and isinstance(metric["value"], (int, float)):
                values[key] = float(metric["value"])
    missing = [key for key in EVIDENTLY_METRICS if key not in values]
    if missing:
        raise MonitorError(f"the classification report has no value for {missing} (is Evidently the locked version?)")
    return values


def estimate(calibration: dict[str, list[float]], probability: np.ndarray, threshold: float) -> dict[str, float]:
    """NannyML's CBPE: ROC AUC, accuracy, F1, precision and recall expected without labels.

    Each row counts as positive with its calibrated probability c and as negative with 1 - c, so the
    expected confusion matrix at the model's decisions (raw probability >= THRESHOLD) sums c and 1 - c,
    and the expected ROC curve ranks rows by the raw score with those same weights.
    """
    c = calibrate(calibration, probability)
    chosen = probability >= threshold
    tp, fp = c[chosen].sum(), (1 - c[chosen]).sum()
    fn, tn = c[~chosen].sum(), (1 - c[~chosen]).sum()
    # sklearn's weighted ROC AUC on each row twice (label 1 weighted c, label 0 weighted 1 - c) is the
    # trapezoid under cumsum(c)/sum(c) against cumsum(1-c)/sum(1-c), ties in the score taken together.
    auc = roc_auc_score(np.r_[np.ones(len(c)), np.zeros(len(c))], np.r_[probability, probability],
                        sample_weight=np.r_[c, 1 - c])
    return {
        "roc_auc": float(auc),
        "accuracy": float((tp + tn) / len(c)),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
    }


def _ratio(part: float, whole: float) -> float:
    return float(part / whole) if whole > 0 else 0.0  # sklearn's zero_division=0


def performance(probability: np.ndarray, y: np.ndarray, reference: dict, threshold: float, min_labelled_rows: int,
                bins: int) -> tuple[dict, Run | None]:
    """Realised and estimated performance of a window, beside the model's test metrics, and the realised
    Evidently snapshot (None without one).

    Y holds 0/1 labels and NaN where no label has arrived yet. Realised figures need at least
    MIN_LABELLED_ROWS labels of both classes; CBPE estimates the unlabelled rows, and the labelled ones
    too so that the estimate can be checked against what was realised. REFERENCE is the model's
    reference.json ("calibration" and "metrics").
    """
    y = np.asarray(y, dtype=np.float64)
    labelled = ~np.isnan(y)
    realised_metrics, snapshot = None, None
    if labelled.sum() >= min_labelled_rows and len(np.unique(y[labelled])) == 2:
        realised_metrics, snapshot = realised(y[labelled].astype(np.int64), probability[labelled], threshold, bins)
    summary = {
        "rows": len(y),
        "labelled_rows": int(labelled.sum()),
        "label_coverage": float(labelled.mean()) if len(y) else 0.0,
        "realised": realised_metrics,
        "estimated": estimate(reference["calibration"], probability[~labelled], threshold)
        if (~labelled).any() else None,
        "estimated_on_labelled": estimate(reference["calibration"], probability[labelled], threshold)
        if realised_metrics else None,
        "reference": reference["metrics"],
    }
    return summary, snapshot
