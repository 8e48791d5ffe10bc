"""Each task's metrics and the binary decision rule, shared by evaluate, package, release and monitoring."""

from __future__ import annotations

import numpy as np
import torch
import torchmetrics.functional.classification as tmf
from sklearn.metrics import (
    brier_score_loss,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_absolute_percentage_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)

# Every metric a task reports, and whether higher is better: the gate's and the alerts' directions.
HIGHER_IS_BETTER = {
    "binary": {"roc_auc": True, "pr_auc": True, "accuracy": True, "f1": True, "log_loss": False,
               "calibration_error": False},
    "multiclass": {"accuracy": True, "macro_f1": True, "log_loss": False, "roc_auc": True,
                   "calibration_error": False, "brier": False},
    "regression": {"rmse": False, "mae": False, "r2": True, "mape": False, "coverage": True},
}
PRIMARY = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}  # what a task is judged by first


def probabilities_tensor(values: np.ndarray) -> torch.Tensor:
    """VALUES as a contiguous float64 tensor: a column of the scores' table is a strided view, which torch's
    bucketize (calibration error) copies with a warning on every call."""
    return torch.as_tensor(np.ascontiguousarray(values), dtype=torch.float64)


def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float, bins: int) -> dict[str, float]:
    """ROC AUC, PR AUC, accuracy, F1, log loss and expected calibration error of probabilities p."""
    pt, yt = probabilities_tensor(p), torch.as_tensor(y)
    clipped = pt.clamp(1e-7, 1 - 1e-7)
    return {
        "roc_auc": tmf.binary_auroc(pt, yt).item(),
        "pr_auc": tmf.binary_average_precision(pt, yt).item(),
        "accuracy": tmf.binary_accuracy(pt, yt, threshold=threshold).item(),
        "f1": tmf.binary_f1_score(pt, yt, threshold=threshold).item(),
        "log_loss": torch.nn.functional.binary_cross_entropy(clipped, yt.double()).item(),
        "calibration_error": tmf.binary_calibration_error(pt, yt, n_bins=bins).item(),
    }


def calibration_error(y: np.ndarray, scores: np.ndarray, bins: int) -> float:
    """Expected calibration error: of the positive probability (binary, SCORES of one dimension), or of the
    top label's probability (multiclass, SCORES (rows, classes)), in BINS equal-width bins."""
    yt, pt = torch.as_tensor(y), probabilities_tensor(scores)
    if pt.ndim == 1:
        return tmf.binary_calibration_error(pt, yt, n_bins=bins).item()
    return tmf.multiclass_calibration_error(pt, yt, num_classes=pt.shape[1], n_bins=bins).item()


def multiclass_metrics(y: np.ndarray, probabilities: np.ndarray, bins: int) -> dict[str, float]:
    """Accuracy, macro F1, log loss, one-vs-rest macro ROC AUC (over the classes present), top-label
    calibration error and the multiclass Brier score of class probabilities (rows, classes); labels Y are
    class codes and the decision is the argmax."""
    classes = np.arange(probabilities.shape[1])
    decided = probabilities.argmax(axis=1)
    present = np.unique(y)
    ranked = probabilities[:, present] / probabilities[:, present].sum(axis=1, keepdims=True)
    return {
        "accuracy": float((decided == y).mean()),
        "macro_f1": float(f1_score(y, decided, labels=present, average="macro", zero_division=0)),
        "log_loss": float(log_loss(y, probabilities, labels=classes)),
        "roc_auc": float(roc_auc_score(y, ranked, multi_class="ovr", average="macro", labels=present)
                         if len(present) > 2 else roc_auc_score(y == present[1], ranked[:, 1])),
        "calibration_error": calibration_error(y, probabilities, bins),
        "brier": float(brier_score_loss(y, probabilities, labels=classes)),
    }


def regression_metrics(y: np.ndarray, prediction: np.ndarray, lower: np.ndarray | None = None,
                       upper: np.ndarray | None = None) -> dict[str, float]:
    """RMSE, MAE and R^2; MAPE where every target is positive; the empirical coverage of [LOWER, UPPER]
    where an interval is given."""
    metrics = {"rmse": float(root_mean_squared_error(y, prediction)), "mae": float(mean_absolute_error(y, prediction)),
               "r2": float(r2_score(y, prediction))}
    if (y > 0).all():
        metrics["mape"] = float(mean_absolute_percentage_error(y, prediction))
    if lower is not None:
        metrics["coverage"] = float(((y >= lower) & (y <= upper)).mean())
    return metrics


def task_metrics(kind: str, y: np.ndarray, answers: dict[str, np.ndarray], bins: int,
                 threshold: float | None = None) -> dict[str, float]:
    """A task's metrics of the model's answers (core.task: decode) against targets Y."""
    if kind == "binary":
        return classification_metrics(y, answers["probability"], threshold, bins)
    if kind == "multiclass":
        return multiclass_metrics(y, answers["probabilities"], bins)
    return regression_metrics(y, answers["prediction"], answers.get("lower"), answers.get("upper"))


def choose_threshold(y: np.ndarray, p: np.ndarray, objective: str, tolerance: float) -> float:
    """A probability cut that keeps accuracy or F1 on (validation) labels y within TOLERANCE of the best.

    The single best cut jumps about on a flat objective: a small change in the scores can move it by
    0.08. The median of all the near-optimal cuts (each cut between two distinct probabilities) is the
    middle of that plateau, and moves little.
    """
    order = np.argsort(-p, kind="stable")
    ys, ps = y[order], p[order]
    tp = np.cumsum(ys)
    fp = np.cumsum(1 - ys)
    positives = ys.sum()
    if objective == "accuracy":
        score = (tp + (len(y) - positives - fp)) / len(y)
    else:
        score = 2 * tp / (tp + fp + positives)
    # Only cut between distinct probabilities, so ties fall on one side.
    score = np.where(np.r_[ps[1:] != ps[:-1], True], score, -np.inf)
    near = ps[score >= score.max() - tolerance]
    return float(np.median(near))
