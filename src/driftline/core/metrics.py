"""Classification metrics and the decision rule, shared by evaluate, package, release and monitoring."""

from __future__ import annotations

import numpy as np
import torch
import torchmetrics.functional.classification as tmf


def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float, bins: int) -> dict[str, float]:
    """ROC AUC, PR AUC, accuracy, F1, log loss and expected calibration error of probabilities p."""
    pt, yt = torch.as_tensor(p, dtype=torch.float64), torch.as_tensor(y)
    clipped = pt.clamp(1e-7, 1 - 1e-7)
    return {
        "roc_auc": tmf.binary_auroc(pt, yt).item(),
        "pr_auc": tmf.binary_average_precision(pt, yt).item(),
        "accuracy": tmf.binary_accuracy(pt, yt, threshold=threshold).item(),
        "f1": tmf.binary_f1_score(pt, yt, threshold=threshold).item(),
        "log_loss": torch.nn.functional.binary_cross_entropy(clipped, yt.double()).item(),
        "calibration_error": tmf.binary_calibration_error(pt, yt, n_bins=bins).item(),
    }


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
