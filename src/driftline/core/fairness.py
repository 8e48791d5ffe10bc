"""Per-group metrics of each task (fairlearn's MetricFrame): the audit's tables and gaps, and what fairness
monitoring compares with them.

A metric reads the targets as core.task gives them and what the model answered: the positive probability
(binary, decided at the threshold), the decided class code (multiclass) or the prediction in the target's
units (regression).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    count,
    false_positive_rate,
    mean_prediction,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)

from driftline.core.task import Task

Metric = Callable[[np.ndarray, np.ndarray], float]


def metrics(task: Task, threshold: float | None = None) -> dict[str, Metric]:
    """Every per-group metric of TASK by name, f(targets, answered), in the order the audit's tables list them.

    binary: rows, positives, their rate, and the selection rate, TPR and FPR of the decisions at THRESHOLD,
    and the AUC; multiclass: rows, accuracy, macro F1, and per class the selection rate (share of rows decided
    as it) and the recall; regression: rows, MAE, RMSE, mean prediction and mean target.
    """
    if task.kind == "binary":
        return {
            "count": lambda yt, yp: len(yt),
            "positives": lambda yt, yp: int(np.sum(yt)),
            "positive_rate": lambda yt, yp: float(np.mean(yt)),
            "selection_rate": lambda yt, yp: selection_rate(yt, yp >= threshold),
            "tpr": lambda yt, yp: true_positive_rate(yt, yp >= threshold, pos_label=1),
            "fpr": lambda yt, yp: false_positive_rate(yt, yp >= threshold, pos_label=1),
            "auc": _auc,
        }
    if task.kind == "multiclass":
        # a class a group has no row of has no recall (NaN), rather than a recall of 0
        codes = dict(enumerate(task.classes))
        return ({"count": count, "accuracy": accuracy_score, "macro_f1": _macro_f1}
                | {f"selection_rate_{c}": partial(selection_rate, pos_label=code) for code, c in codes.items()}
                | {f"recall_{c}": partial(recall_score, labels=[code], average="macro", zero_division=np.nan)
                   for code, c in codes.items()})
    return {"count": count, "mae": mean_absolute_error, "rmse": root_mean_squared_error,
            "mean_prediction": mean_prediction, "mean_target": lambda yt, yp: float(np.mean(yt))}


def gaps(task: Task) -> dict[str, list[str]]:
    """The audit's gaps (metrics/audit.json's `<attribute>_<gap>`), each the largest spread over groups of the
    metrics it lists."""
    if task.kind == "binary":  # fairlearn's demographic parity and equalized odds differences
        return {"demographic_parity_difference": ["selection_rate"], "equalized_odds_difference": ["tpr", "fpr"],
                "base_rate_difference": ["positive_rate"]}
    if task.kind == "multiclass":
        return {"accuracy_gap": ["accuracy"], "macro_f1_gap": ["macro_f1"],
                "recall_gap": [f"recall_{c}" for c in task.classes]}
    return {"mae_gap": ["mae"], "rmse_gap": ["rmse"], "mean_prediction_gap": ["mean_prediction"]}


def by_group(functions: dict[str, Metric], y: np.ndarray, answered: np.ndarray, groups: np.ndarray) -> dict:
    """fairlearn's MetricFrame(...).by_group as {group: {metric: value}}; empty without rows."""
    if len(y) == 0:
        return {}
    frame = MetricFrame(metrics=functions, y_true=y, y_pred=answered, sensitive_features=groups)
    return frame.by_group.to_dict(orient="index")


def spread(tables: dict, groups: list, names: list[str]) -> float | None:
    """The largest, over the metrics NAMES, of the max minus the min over GROUPS' tables (of their finite
    values); None where no metric has two such values."""
    found = []
    for name in names:
        values = [tables[g][name] for g in groups if g in tables and _finite(tables[g].get(name))]
        if len(values) >= 2:
            found.append(max(values) - min(values))
    return max(found) if found else None


def group_fairness(task: Task, y: np.ndarray, answered: np.ndarray, groups: pd.Series, min_group_size: int = 1,
                   threshold: float | None = None) -> tuple[dict, dict]:
    """Per-group metrics (`metrics`), and the gaps (`gaps`) over the groups large enough to rate: MIN_GROUP_SIZE
    rows of each label (binary) or rows (multiclass, regression).

    Rates estimated from a handful of rows are noise (a TPR from four positives), so smaller groups are
    reported with `gated: false` and left out of the gaps, which are 0 without two gated groups. A
    regression's tables mark the gated group of the largest MAE `worst`.
    """
    tables = by_group(metrics(task, threshold), y, answered, groups.to_numpy())
    for table in tables.values():
        rows = min(table["positives"], table["count"] - table["positives"]) if task.kind == "binary" else table["count"]
        table["gated"] = bool(rows >= min_group_size)
    gated = [g for g, t in tables.items() if t["gated"]]
    if task.kind == "regression":
        worst = max(gated, key=lambda g: tables[g]["mae"], default=None)
        for group, table in tables.items():
            table["worst"] = group == worst
    found = {name: spread(tables, gated, names) for name, names in gaps(task).items()}
    return tables, {name: 0.0 if value is None or len(gated) < 2 else float(value) for name, value in found.items()}


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")


def _macro_f1(y: np.ndarray, decided: np.ndarray) -> float:
    """Macro F1 over the classes the group holds, as core.metrics scores a split."""
    return float(f1_score(y, decided, labels=np.unique(y), average="macro", zero_division=0))


def _finite(value) -> bool:
    return isinstance(value, numbers.Real) and np.isfinite(value)
