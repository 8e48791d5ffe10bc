"""How much better a rollout's candidate is than the champion on labelled records: the interval of the task's
primary metric (core.metrics.PRIMARY), candidate minus champion, at a two-sided confidence level.

- ROC AUC (binary) gets DeLong's interval: the difference of two AUCs is about normal, with the variance of the
  rows' DeLong placements (core.spread's AUC influences; var(AUC) = their variance over n). Paired
  (shadow: the same records in both arms) the variance is that of the influences' difference row by row, so
  that the arms' correlation counts; unpaired (canary: each arm's own records) the two variances add.
- The other primaries (multiclass log loss, regression RMSE) get a percentile bootstrap of the difference:
  paired resamples the same rows for both arms, unpaired resamples each arm's rows on its own.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from driftline.core.metrics import HIGHER_IS_BETTER, PRIMARY
from driftline.core.spread import auc_influence
from driftline.release.card import primary_metric


def delong_interval(champion: tuple[np.ndarray, np.ndarray], candidate: tuple[np.ndarray, np.ndarray],
                    paired: bool, confidence: float) -> list[float] | None:
    """DeLong's interval of AUC(candidate) - AUC(champion); each arm is (0/1 labels, scores), the same labels
    when PAIRED. None when an arm lacks a label of either class."""
    influences = [auc_influence(scores, y == 1) for y, scores in (champion, candidate)]
    if any(influence is None for influence in influences):
        return None
    if paired:
        variance = np.var(influences[1] - influences[0]) / len(champion[0])
    else:
        variance = sum(np.var(influence) / len(influence) for influence in influences)
    difference = primary_metric("binary", *candidate) - primary_metric("binary", *champion)
    half = norm.ppf((1 + confidence) / 2) * np.sqrt(variance)
    return [float(difference - half), float(difference + half)]


def bootstrap_interval(kind: str, champion: tuple[np.ndarray, np.ndarray], candidate: tuple[np.ndarray, np.ndarray],
                       paired: bool, rounds: int, confidence: float, seed: int = 0) -> list[float] | None:
    """The percentile bootstrap interval of the primary metric, candidate minus champion, over ROUNDS resamples;
    each arm is (targets, scores) as card.primary_metric takes them. PAIRED draws the same rows for both arms
    (which then share their targets); otherwise each arm is drawn on its own. A binary resample with one label
    only is skipped (AUC ranks one against the other); None when none is left."""
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(rounds):
        first = rng.integers(0, len(champion[0]), len(champion[0]))
        second = first if paired else rng.integers(0, len(candidate[0]), len(candidate[0]))
        (y_a, s_a), (y_b, s_b) = ((y[rows], s[rows]) for (y, s), rows in ((champion, first), (candidate, second)))
        if kind == "binary" and min(len(np.unique(y_a)), len(np.unique(y_b))) < 2:
            continue
        draws.append(primary_metric(kind, y_b, s_b) - primary_metric(kind, y_a, s_a))
    if not draws:
        return None
    tail = (1 - confidence) / 2 * 100
    return [float(np.percentile(draws, tail)), float(np.percentile(draws, 100 - tail))]


def compare(kind: str, champion: tuple[np.ndarray, np.ndarray], candidate: tuple[np.ndarray, np.ndarray],
            paired: bool, confidence: float, rounds: int) -> dict:
    """Both arms' primary metric on their labelled records (each (targets, scores)), the difference candidate
    minus champion with its interval (DeLong for ROC AUC, else the bootstrap), and `improvement`: that interval
    in the metric's direction (positive: the candidate is better), which the decision policy reads."""
    metric = PRIMARY[kind]
    values = {arm: float(primary_metric(kind, *scored)) for arm, scored in (("champion", champion),
                                                                            ("candidate", candidate))}
    if kind == "binary":
        interval, method = delong_interval(champion, candidate, paired, confidence), "DeLong"
    else:
        interval = bootstrap_interval(kind, champion, candidate, paired, rounds, confidence)
        method = f"bootstrap ({rounds} rounds)"
    higher = HIGHER_IS_BETTER[kind][metric]
    improvement = None if interval is None else (interval if higher else [-interval[1], -interval[0]])
    return {"metric": metric, "higher_is_better": higher, **values,
            "difference": values["candidate"] - values["champion"], "interval": interval,
            "improvement": improvement, "method": f"{method}, {'paired' if paired else 'unpaired'}",
            "confidence": confidence, "rows": {"champion": len(champion[0]), "candidate": len(candidate[0])}}
