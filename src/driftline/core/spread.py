"""The test split's spread, which the package stage stores in reference.json (spread_reference) so that monitoring
can tell how far a performance estimate may stray by chance, and when it should sound an alarm: NannyML's
sampling error and its StandardDeviationThreshold. monitoring.uncertainty scales both to each window.

Sampling error. A metric over n rows has the standard error sd / sqrt(n), sd being the spread of one row's
influence on the metric (sampling_sd). NannyML takes shortcuts per metric: the spread of the hits among the
relevant rows for accuracy, precision and recall, the minority class's Mann-Whitney placements for ROC AUC, the
delta method of the root for RMSE, and classes taken as independent in a macro average. Here sd is always the
standard deviation of each row's influence (the delta method of a ratio of sums, DeLong's placements of both
classes, macro averages row by row): NannyML's figure where its shortcut holds, and a bootstrap's where it does
not (F1, classes about even, correlated classes).

Thresholds. NannyML's StandardDeviationThreshold cuts the reference into CHUNKS chunks and measures each metric on
every chunk (chunk_thresholds); monitoring alarms outside the chunks' mean ± 3 standard deviations.
"""

from __future__ import annotations

import math

import numpy as np

from driftline.core.metrics import task_metrics
from driftline.core.task import Task
from driftline.errors import DataError

# The metrics each task's estimator gives, which get a sampling error and thresholds
ESTIMATED = {"binary": ("roc_auc", "accuracy", "f1", "precision", "recall"),
             "multiclass": ("accuracy", "macro_f1", "roc_auc", "log_loss"), "regression": ("mae", "rmse")}
CHUNKS = 10  # NannyML's default chunker cuts the reference into ten chunks
SPREAD_KEYS = ("sampling_error", "thresholds")  # what spread_reference adds to reference.json


def ratio(part: float, whole: float) -> float:
    """PART / WHOLE, 0 where WHOLE is not positive (sklearn's zero_division=0)."""
    return float(part / whole) if whole > 0 else 0.0


def scorable(task: Task, y: np.ndarray) -> bool:
    """Whether the task can score targets Y (task.require: both labels, two classes, two values)."""
    try:
        task.require(y, "window")
    except DataError:
        return False
    return True


def subset(answers: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """ANSWERS (core.task: decode) of the ROWS an index or boolean mask picks."""
    return {name: np.asarray(values)[rows] for name, values in answers.items()}


def _ratio_influence(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray | None:
    """Each row's influence on a ratio of sums R = sum(A) / sum(B) (the delta method): (A - R B) / mean(B).
    Its spread over the rows is NannyML's for accuracy, precision and recall (the std of the hits among the
    relevant rows over the root of their share); for F1 NannyML's shortcut overstates it by up to twice, which a
    bootstrap shows. None when B sums to 0."""
    numerator, denominator = numerator.astype(np.float64), denominator.astype(np.float64)
    if denominator.sum() <= 0:
        return None
    return (numerator - numerator.sum() / denominator.sum() * denominator) / denominator.mean()


def auc_influence(score: np.ndarray, positive: np.ndarray) -> np.ndarray | None:
    """Each row's influence on the ROC AUC of SCORE. NannyML writes the AUC as a Mann-Whitney statistic, the mean
    over the positives of their placements (the share of negatives scored below, ties half), and keeps the
    spread of the minority class's placements alone; DeLong's variance adds the other class's (the share of
    positives scored above each negative), which matters when the classes are about even:
    var(AUC) = var(positive placements) / n+ + var(negative placements) / n-, the variance of these
    influences over n. None without both classes."""
    ones, zeros = np.sort(score[positive]), np.sort(score[~positive])
    if not len(ones) or not len(zeros):
        return None
    share = len(ones) / len(score)
    below = (np.searchsorted(zeros, score, "left") + np.searchsorted(zeros, score, "right")) / (2 * len(zeros))
    above = 1 - (np.searchsorted(ones, score, "left") + np.searchsorted(ones, score, "right")) / (2 * len(ones))
    auc = below[positive].mean()
    return np.where(positive, (below - auc) / share, (above - auc) / (1 - share))


def _macro_influence(influences: list[np.ndarray | None]) -> np.ndarray | None:
    """A macro average's influence: the mean of the classes' (those that have one), row by row, so that the
    classes' correlation counts. NannyML takes the classes as independent instead, and scales its AUC's error
    by 1.2 to make up for what that misses."""
    known = [influence for influence in influences if influence is not None]
    return np.mean(known, axis=0) if known else None


def _binary_influence(y: np.ndarray, probability: np.ndarray, threshold: float) -> dict[str, np.ndarray | None]:
    positive, chosen = y == 1, probability >= threshold
    tp, fp, fn = (positive & chosen).astype(np.int64), ~positive & chosen, positive & ~chosen
    return {"roc_auc": auc_influence(probability, positive),
            "accuracy": _ratio_influence(positive == chosen, np.ones(len(y))),
            "f1": _ratio_influence(2 * tp, 2 * tp + fp + fn), "precision": _ratio_influence(tp, chosen),
            "recall": _ratio_influence(tp, positive)}


def _multiclass_influence(y: np.ndarray, probabilities: np.ndarray) -> dict[str, np.ndarray | None]:
    classes = np.arange(probabilities.shape[1])
    decided = probabilities.argmax(axis=1)
    eps = np.finfo(np.float64).eps  # clipped as sklearn's log_loss clips them
    loss = -np.log(np.clip(probabilities[np.arange(len(y)), y], eps, 1 - eps))
    # a class's F1 is 2 TP / (labels of the class + decisions for it)
    f1 = [_ratio_influence(2 * ((y == k) & (decided == k)), (y == k).astype(np.int64) + (decided == k))
          for k in classes]
    return {"accuracy": _ratio_influence(decided == y, np.ones(len(y))), "macro_f1": _macro_influence(f1),
            "roc_auc": _macro_influence([auc_influence(probabilities[:, k], y == k) for k in classes]),
            "log_loss": loss - loss.mean()}


def _regression_influence(y: np.ndarray, prediction: np.ndarray) -> dict[str, np.ndarray | None]:
    absolute, squared = np.abs(y - prediction), (y - prediction) ** 2
    # NannyML's RMSE: the delta method of the root, std(e^2) / (2 RMSE)
    rmse = (squared - squared.mean()) / (2 * np.sqrt(squared.mean())) if squared.mean() > 0 else None
    return {"mae": absolute - absolute.mean(), "rmse": rmse}


def sampling_sd(kind: str, y: np.ndarray, answers: dict[str, np.ndarray],
                threshold: float | None = None) -> dict[str, float]:
    """Per estimated metric (ESTIMATED), the spread sd of one row of labelled ANSWERS (targets Y) such that the
    metric over n rows has the standard error sd / sqrt(n), as NannyML's sampling-error components give it:
    the standard deviation of each row's influence on the metric. Metrics the rows cannot measure (one class)
    are left out."""
    if kind == "binary":
        influences = _binary_influence(y, answers["probability"], threshold)
    elif kind == "multiclass":
        influences = _multiclass_influence(y.astype(np.int64), answers["probabilities"])
    else:
        influences = _regression_influence(y, answers["prediction"])
    spreads = {metric: float(np.std(rows)) for metric, rows in influences.items() if rows is not None}
    return {metric: sd for metric, sd in spreads.items() if math.isfinite(sd)}


def estimated_metrics(task: Task, y: np.ndarray, answers: dict[str, np.ndarray], bins: int,
                      threshold: float | None = None) -> dict[str, float]:
    """The realised values of the metrics the task's estimator gives (ESTIMATED): core.metrics' figures, and a
    binary model's precision and recall at its decisions (probability >= THRESHOLD)."""
    metrics = task_metrics(task.kind, y, answers, bins, threshold)
    if task.kind == "binary":
        chosen, positive = answers["probability"] >= threshold, y == 1
        metrics |= {"precision": ratio((chosen & positive).sum(), chosen.sum()),
                    "recall": ratio((chosen & positive).sum(), positive.sum())}
    return {metric: float(metrics[metric]) for metric in ESTIMATED[task.kind]}


def chunk_thresholds(task: Task, y: np.ndarray, answers: dict[str, np.ndarray], bins: int,
                     threshold: float | None = None) -> dict:
    """NannyML's thresholds, from CHUNKS consecutive chunks of labelled ANSWERS (targets Y; the test split is
    shuffled, so its chunks are random): per estimated metric, the mean and the standard deviation (numpy's,
    as NannyML's StandardDeviationThreshold) of its value over the chunks the task can score, and the chunks'
    size, to which window_spread scales them. A metric with fewer than two chunk values is left out."""
    chunks = [rows for rows in np.array_split(np.arange(len(y)), CHUNKS) if scorable(task, y[rows])]
    values = [estimated_metrics(task, y[rows], subset(answers, rows), bins, threshold) for rows in chunks]
    metrics = {}
    for metric in ESTIMATED[task.kind]:
        found = [v[metric] for v in values if math.isfinite(v[metric])]
        if len(found) >= 2:
            metrics[metric] = {"mean": float(np.mean(found)), "std": float(np.std(found))}
    return {"chunks": len(chunks), "chunk_rows": len(y) // CHUNKS, "metrics": metrics}


def spread_reference(task: Task, answers: dict[str, np.ndarray], y: np.ndarray, bins: int,
                     threshold: float | None = None) -> dict:
    """What reference.json keeps of the test split's ANSWERS and targets Y for the estimate's uncertainty:
    `sampling_error` ({"rows", "sd": {metric: per-row spread}}, sampling_sd) and `thresholds`
    (chunk_thresholds). Models packaged before lack both, and their summaries lack what comes of them."""
    return {"sampling_error": {"rows": len(y), "sd": sampling_sd(task.kind, y, answers, threshold)},
            "thresholds": chunk_thresholds(task, y, answers, bins, threshold)}
