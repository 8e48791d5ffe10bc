"""Performance in production: realised where labels have arrived, estimated where they have not.

The estimates are NannyML's: confidence-based performance estimation (CBPE) for classification, from the
model's probabilities recalibrated on the validation split, and direct loss estimation (DLE) for regression,
gradient-boosting "nanny" models of each row's error fitted on the validation split. Both assume that the
relation between the features and the target has not changed (no concept drift). The package stage fits what
they learn from the validation split (core.estimators); here they are read and applied.

How far an estimate may stray by chance, and the thresholds of an alarm, are NannyML's too: the test split's spread
(core.spread), which the estimators carry and performance() scales to each window (monitoring.uncertainty).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from evidently import BinaryClassification, DataDefinition, Dataset, MulticlassClassification, Regression, Report, Run
from evidently.presets import ClassificationPreset, RegressionPreset
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import roc_auc_score

from driftline.core.data import columns_of
from driftline.core.estimators import NANNY_FILE
from driftline.core.metrics import task_metrics
from driftline.core.predictor import Predictor
from driftline.core.spread import SPREAD_KEYS, ratio, scorable, subset
from driftline.core.task import Task
from driftline.monitoring.uncertainty import window_spread


def calibrate(calibration: dict[str, list[float]], probability: np.ndarray) -> np.ndarray:
    """Calibrated probabilities: the isotonic knots interpolated (np.interp clips as the fit did)."""
    return np.interp(probability, calibration["x"], calibration["y"])


def calibrate_classes(calibrations: list[dict[str, list[float]]], probabilities: np.ndarray) -> np.ndarray:
    """Each class's probability calibrated one-vs-rest, then the rows normalised to sum to 1 (uniform where
    every class calibrates to 0), as NannyML does."""
    c = np.column_stack([calibrate(calibration, probabilities[:, k]) for k, calibration in enumerate(calibrations)])
    total = c.sum(axis=1, keepdims=True)
    return np.divide(c, total, out=np.full_like(c, 1 / c.shape[1]), where=total > 0)


def _expected_auc(score: np.ndarray, c: np.ndarray) -> float | None:
    """The expected ROC AUC of SCORE when each row is positive with probability C: sklearn's weighted AUC on
    each row twice (label 1 weighted c, label 0 weighted 1 - c), the trapezoid under cumsum(c)/sum(c)
    against cumsum(1-c)/sum(1-c), ties in the score taken together. None when no row can be one of the two."""
    if not 0 < c.sum() < len(c):
        return None
    return float(roc_auc_score(np.r_[np.ones(len(c)), np.zeros(len(c))], np.r_[score, score],
                               sample_weight=np.r_[c, 1 - c]))


def cbpe_binary(calibration: dict[str, list[float]], probability: np.ndarray, threshold: float) -> dict[str, float]:
    """NannyML's CBPE: ROC AUC, accuracy, F1, precision and recall expected without labels.

    Each row counts as positive with its calibrated probability c and as negative with 1 - c, so the
    expected confusion matrix at the model's decisions (raw probability >= THRESHOLD) sums c and 1 - c,
    and the expected ROC curve ranks rows by the raw score with those same weights.
    """
    c = calibrate(calibration, probability)
    chosen = probability >= threshold
    tp, fp = c[chosen].sum(), (1 - c[chosen]).sum()
    fn, tn = c[~chosen].sum(), (1 - c[~chosen]).sum()
    return {
        "roc_auc": _expected_auc(probability, c),
        "accuracy": float((tp + tn) / len(c)),
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "precision": ratio(tp, tp + fp),
        "recall": ratio(tp, tp + fn),
    }


def cbpe_multiclass(calibrations: list[dict[str, list[float]]], probabilities: np.ndarray) -> dict[str, float]:
    """NannyML's multiclass CBPE: accuracy, macro F1 and one-vs-rest macro ROC AUC expected without labels,
    and the expected log loss.

    With the calibrated class probabilities C (calibrate_classes), a row is of class k with probability
    C[k]: the expected accuracy is the mean C of the decided (argmax) class; each class's expected
    one-vs-rest confusion matrix and ROC curve are the binary ones (cbpe_binary) with weights C[k], averaged
    over the classes; the expected log loss is the mean of -sum_k C[k] log p[k] (PRIMARY's multiclass metric,
    which NannyML does not estimate).
    """
    c = calibrate_classes(calibrations, probabilities)
    decided = probabilities.argmax(axis=1)
    chosen = decided[:, None] == np.arange(c.shape[1])
    tp, fp, fn = (c * chosen).sum(axis=0), ((1 - c) * chosen).sum(axis=0), (c * ~chosen).sum(axis=0)
    aucs = [auc for k in range(c.shape[1]) if (auc := _expected_auc(probabilities[:, k], c[:, k])) is not None]
    eps = np.finfo(np.float64).eps  # clipped as sklearn's log_loss clips them
    return {
        "accuracy": float(c[np.arange(len(c)), decided].mean()),
        "macro_f1": float(np.mean([ratio(2 * t, 2 * t + p + n) for t, p, n in zip(tp, fp, fn)])),
        "roc_auc": float(np.mean(aucs)) if aucs else None,
        "log_loss": float(-(c * np.log(np.clip(probabilities, eps, 1 - eps))).sum(axis=1).mean()),
    }


class CBPE:
    """Classification estimates from the calibration stored in the model's reference.json; SPREAD is what it
    holds of the test split's spread (core.spread: spread_reference; empty for a model packaged before it was
    stored)."""

    method = "CBPE"

    def __init__(self, kind: str, calibration: dict | list[dict], threshold: float | None = None,
                 spread: dict | None = None):
        self.kind, self.calibration, self.threshold = kind, calibration, threshold
        self.spread = spread or {}

    def estimate(self, answers: dict[str, np.ndarray], rows: pd.DataFrame | None = None) -> dict[str, float]:
        """The estimate over ANSWERS (core.task: decode); the rows' features are not needed."""
        if self.kind == "binary":
            return cbpe_binary(self.calibration, answers["probability"], self.threshold)
        return cbpe_multiclass(self.calibration, answers["probabilities"])


def _nanny() -> HistGradientBoostingRegressor:
    # LightGBM's defaults (100 trees of 31 leaves, rate 0.1), NannyML's nanny; without early stopping there is
    # no random validation split, so a refit on the same rows is the same model (random_state fixes the binning
    # sample sklearn draws above 200,000 rows)
    return HistGradientBoostingRegressor(early_stopping=False, random_state=0)


class DLE:
    """NannyML's direct loss estimation: nanny models learn each validation row's absolute and squared error
    from its features (as the network's encoded input) and its prediction; the mean of their predictions
    over a batch estimates its MAE and MSE (the square root: RMSE).

    The nannies are refitted from the validation rows stored with the model (NANNY_FILE) whenever a monitor
    run needs them: sklearn has no pickle-free format for a fitted model, and the refit is deterministic.
    SPREAD is as CBPE's.
    """

    method = "DLE"

    def __init__(self, predictor: Predictor, reference: pd.DataFrame, spread: dict | None = None):
        self.predictor, self.spread = predictor, spread or {}
        prediction = predictor.predict_columns(columns_of(reference, predictor.schema.features))["prediction"]
        x = self._inputs(reference, prediction)
        error = predictor.task.targets(reference) - prediction
        self.absolute = _nanny().fit(x, np.abs(error))
        self.squared = _nanny().fit(x, error ** 2)

    @classmethod
    def load(cls, predictor: Predictor, model_dir: Path, spread: dict | None = None) -> DLE:
        return cls(predictor, pd.read_parquet(Path(model_dir) / NANNY_FILE), spread)

    def _inputs(self, rows: pd.DataFrame, prediction: np.ndarray) -> np.ndarray:
        encoded = self.predictor.encode(columns_of(rows, self.predictor.schema.features))
        return np.column_stack([encoded, prediction])

    def estimate(self, answers: dict[str, np.ndarray], rows: pd.DataFrame) -> dict[str, float]:
        """Estimated MAE and RMSE of ANSWERS' predictions for ROWS (typed features)."""
        x = self._inputs(rows, answers["prediction"])
        return {"mae": float(np.clip(self.absolute.predict(x), 0, None).mean()),
                "rmse": float(np.sqrt(np.clip(self.squared.predict(x), 0, None).mean()))}


def estimator(predictor: Predictor, model_dir: Path, reference: dict) -> CBPE | DLE:
    """The packaged model's estimator, from its reference.json (REFERENCE) and folder, carrying the test split's
    spread where the reference holds it."""
    kind = predictor.task.kind
    spread = {key: reference[key] for key in SPREAD_KEYS if key in reference}
    if kind == "regression":
        return DLE.load(predictor, model_dir, spread)
    return CBPE(kind, reference["calibration"], predictor.threshold if kind == "binary" else None, spread)


def performance_report(task: Task, y: np.ndarray, answers: dict[str, np.ndarray], threshold: float | None) -> Run:
    """Evidently's classification or regression preset over labelled rows (targets Y): performance.html."""
    if task.kind == "regression":
        frame = pd.DataFrame({"target": y, "prediction": answers["prediction"]})
        definition = DataDefinition(regression=[Regression(target="target", prediction="prediction")],
                                    numerical_columns=["target", "prediction"])
        preset = RegressionPreset()
    elif task.kind == "binary":
        frame = pd.DataFrame({"target": y, "probability": answers["probability"]})
        definition = DataDefinition(classification=[
            BinaryClassification(target="target", prediction_probas="probability", pos_label=1)])
        preset = ClassificationPreset(probas_threshold=threshold)
    else:
        codes = [str(k) for k in range(len(task.classes))]  # digits: no clash with the target's columns
        frame = pd.DataFrame({"target": np.array(codes)[y], "prediction": np.array(codes)[answers["probabilities"]
                                                                                         .argmax(axis=1)]})
        # Evidently's per-class ROC needs a label of every class it is given the probability of (it raises
        # KeyError otherwise), and it decides by the argmax of the probabilities it gets: without a label of
        # every class, the report takes the decided labels alone
        probas = codes if len(np.unique(y)) == len(codes) else None
        if probas:
            frame = frame.join(pd.DataFrame(answers["probabilities"], columns=codes))
        definition = DataDefinition(
            classification=[MulticlassClassification(target="target", prediction_labels="prediction",
                                                      prediction_probas=probas, labels=dict(zip(codes, task.classes)))],
            categorical_columns=["target", "prediction"])
        preset = ClassificationPreset()
    return Report([preset]).run(current_data=Dataset.from_pandas(frame, data_definition=definition))


def realised(task: Task, y: np.ndarray, answers: dict[str, np.ndarray], bins: int, threshold: float | None = None,
             report: bool = True) -> tuple[dict[str, float], Run | None]:
    """The task's metrics of labelled rows (core.metrics, as evaluate measures the test split, so that they
    compare with the model's test figures) and the Evidently snapshot of the same rows (`save_html` writes
    its report; None without REPORT, which saves the report's 0.15-0.35 s). Y holds targets as task.targets
    gives them; binary decisions are probability >= THRESHOLD.

    Evidently's own figures agree on the rows it can score (tests check it), but its multiclass preset
    cannot score a window that lacks a class's label, and its MAPE is in percent and infinite at a zero
    target: the figures are core.metrics', Evidently's is the report.
    """
    snapshot = performance_report(task, y, answers, threshold) if report else None
    return task_metrics(task.kind, y, answers, bins, threshold), snapshot


def performance(task: Task, answers: dict[str, np.ndarray], rows: pd.DataFrame | None, y: np.ndarray,
                estimate: CBPE | DLE, reference_metrics: dict, min_labelled_rows: int, bins: int,
                threshold: float | None = None, report: bool = True) -> tuple[dict, Run | None]:
    """Realised and estimated performance of a window, beside the model's test metrics (REFERENCE_METRICS),
    and the realised Evidently snapshot (None without realised figures, or without REPORT: realised()).

    ANSWERS are what the model answered (core.task: decode) for ROWS (typed features; DLE reads them). Y holds
    targets as task.targets gives them and NaN where no label has arrived yet. Realised figures need at least
    MIN_LABELLED_ROWS labels that the task can score (task.require: both labels, two classes, two values);
    the ESTIMATE covers the unlabelled rows, and the labelled ones too so that it can be checked against
    what was realised. Where the estimator carries the test split's spread, the summary adds the estimate's
    `sampling_error` and the window's `thresholds` (window_spread).
    """
    y = np.asarray(y, dtype=np.float64)
    labelled = ~np.isnan(y)
    targets = y[labelled] if task.kind == "regression" else y[labelled].astype(np.int64)
    realised_metrics, snapshot = None, None
    if labelled.sum() >= min_labelled_rows and scorable(task, targets):
        realised_metrics, snapshot = realised(task, targets, subset(answers, labelled), bins, threshold, report)

    def estimated(mask: np.ndarray) -> dict | None:
        return estimate.estimate(subset(answers, mask), None if rows is None else rows[mask]) if mask.any() else None

    summary = {
        "rows": len(y),
        "labelled_rows": int(labelled.sum()),
        "label_coverage": float(labelled.mean()) if len(y) else 0.0,
        "method": estimate.method,
        "realised": realised_metrics,
        "estimated": estimated(~labelled),
        "estimated_on_labelled": estimated(labelled) if realised_metrics else None,
        "reference": reference_metrics,
    }
    summary |= window_spread(estimate.spread, summary["estimated"], int((~labelled).sum()), len(y))
    return summary, snapshot
