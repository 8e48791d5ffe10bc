"""Fairness drift: each sensitive group's answers in a window beside the audit's, and the gaps between groups.

What is compared per task, with the audit's tables (core.fairness) as the reference:
- binary: the selection rate (every row), TPR and FPR (labelled rows); the parity, TPR and FPR gaps
- multiclass: each class's selection rate (every row) and the accuracy (labelled rows); the largest gap over
  the classes' selection rates, and the accuracy gap
- regression: the mean prediction (every row) and the MAE (labelled rows); their gaps
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)

from driftline.config import Schema
from driftline.core.data import sensitive_groups
from driftline.core.fairness import by_group, metrics, spread
from driftline.core.task import Task


def fairness_drift(frame: pd.DataFrame, predicted: np.ndarray, y: np.ndarray, threshold: float | None,
                   schema: Schema, reference_fairness: dict, min_labelled_rows: int) -> dict:
    """Per sensitive attribute: each group's figures and the gaps between groups (the module's list), beside
    the audit's (REFERENCE_FAIRNESS, its fairness.json tables) as `reference_<name>`: every figure and gap
    (multiclass, regression), or the selection rate and the gaps (binary).

    FRAME holds the typed sensitive columns. PREDICTED is what the model answered: the positive probability,
    decided at THRESHOLD (binary), the class probabilities (rows, classes) (multiclass), or the prediction
    (regression). Y holds the targets as core.task gives them (0/1, class codes or values) and NaN where
    none has arrived. The label-based figures are None with fewer than MIN_LABELLED_ROWS labels, and a
    binary group's TPR (FPR) is None while it has no positive (negative) label. The gaps cover the groups
    the audit gated, so that they compare like with like and leave out groups too small to rate (without
    an audit table for the attribute, every group); a gap is None until two such groups can be rated.
    """
    task = Task.of(schema)
    y = np.asarray(y, dtype=np.float64)
    enough = int((~np.isnan(y)).sum()) >= min_labelled_rows
    if task.kind == "binary":
        answered, attribute = (np.asarray(predicted) >= threshold).astype(np.int64), _binary
    elif task.kind == "multiclass":
        answered, attribute = np.asarray(predicted).argmax(axis=1), partial(_attribute, task)
    else:
        answered, attribute = np.asarray(predicted, dtype=np.float64), partial(_attribute, task)
    return {
        name: attribute(sensitive_groups(frame[name], spec.bins).to_numpy(), answered, y, enough,
                        reference_fairness.get(name, {}))
        for name, spec in schema.sensitive.items()
    }


def _watched(task: Task) -> tuple[list[str], list[str], dict[str, list[str]]]:
    """What a multiclass or regression window compares: the metrics of every row, those of the labelled rows,
    and the gaps with the metrics each spreads."""
    if task.kind == "multiclass":
        rates = [f"selection_rate_{c}" for c in task.classes]
        return rates, ["accuracy"], {"selection_rate_gap": rates, "accuracy_gap": ["accuracy"]}
    return ["mean_prediction"], ["mae"], {"mean_prediction_gap": ["mean_prediction"], "mae_gap": ["mae"]}


def _attribute(task: Task, groups: np.ndarray, answered: np.ndarray, y: np.ndarray, enough: bool,
               reference: dict) -> dict:
    """A multiclass or regression attribute: ANSWERED holds decided class codes or predictions."""
    shown, scored, gaps = _watched(task)
    functions = metrics(task)
    everyone = by_group({"count": count} | {m: functions[m] for m in shown}, answered, answered, groups)
    labelled = ~np.isnan(y)
    target = y[labelled].astype(np.int64) if task.kind == "multiclass" else y[labelled]
    rated = by_group({"labelled": count} | {m: functions[m] for m in scored}, target, answered[labelled],
                     groups[labelled])
    tables = {}
    for group, row in everyone.items():
        own, known = rated.get(group, {}), reference.get(group, {})
        table = {"count": int(row["count"])}
        for name in shown:
            table |= {name: float(row[name]), f"reference_{name}": known.get(name)}
        table["labelled"] = int(own.get("labelled", 0))
        for name in scored:
            table |= {name: float(own[name]) if enough and own else None, f"reference_{name}": known.get(name)}
        tables[group] = table
    gated, result = _gated(reference, groups), {"groups": tables}
    for gap, names in gaps.items():
        result |= {gap: spread(tables, gated, names), f"reference_{gap}": spread(reference, gated, names)}
    return result


def _gated(reference: dict, groups: np.ndarray) -> list:
    """The groups the audit gated; without an audit table for the attribute, every group."""
    return [g for g, table in reference.items() if table.get("gated", True)] if reference else sorted(set(groups))


def _binary(groups: np.ndarray, decided: np.ndarray, y: np.ndarray, enough: bool, reference: dict) -> dict:
    """A binary attribute: DECIDED holds the 0/1 decisions."""
    gated = _gated(reference, groups)
    # selection rate reads only the decisions: they stand in for the labels fairlearn asks for
    selection = MetricFrame(metrics={"count": count, "selection_rate": selection_rate}, y_true=decided,
                            y_pred=decided, sensitive_features=groups).by_group
    labelled = ~np.isnan(y)
    rates = _label_rates(y[labelled].astype(np.int64), decided[labelled], groups[labelled])
    compared = np.isin(groups, gated)
    rated = [g for g in gated if g in rates.index and 0 < rates.loc[g, "positives"] < rates.loc[g, "labelled"]]
    tpr_gap = fpr_gap = None
    if enough and len(rated) >= 2:
        kept = labelled & np.isin(groups, rated)
        gaps = MetricFrame(metrics={"tpr": _tpr, "fpr": _fpr}, y_true=y[kept].astype(np.int64),
                           y_pred=decided[kept], sensitive_features=groups[kept]).difference()
        tpr_gap, fpr_gap = float(gaps["tpr"]), float(gaps["fpr"])
    return {
        "groups": {group: _group(row, rates, enough, reference.get(group, {})) for group, row in selection.iterrows()},
        "demographic_parity_difference": float(demographic_parity_difference(
            decided[compared], decided[compared], sensitive_features=groups[compared]))
        if len(set(groups[compared])) >= 2 else None,
        "reference_demographic_parity_difference": spread(reference, gated, ["selection_rate"]),
        "tpr_gap": tpr_gap,
        "fpr_gap": fpr_gap,
        "reference_tpr_gap": spread(reference, gated, ["tpr"]),
        "reference_fpr_gap": spread(reference, gated, ["fpr"]),
    }


def _tpr(y: np.ndarray, decided: np.ndarray) -> float:
    return true_positive_rate(y, decided, pos_label=1)


def _fpr(y: np.ndarray, decided: np.ndarray) -> float:
    return false_positive_rate(y, decided, pos_label=1)


def _label_rates(y: np.ndarray, decided: np.ndarray, groups: np.ndarray) -> pd.DataFrame:
    if len(y) == 0:
        return pd.DataFrame(columns=["labelled", "positives", "tpr", "fpr"])
    return MetricFrame(
        metrics={"labelled": count, "positives": lambda yt, yp: int(np.sum(yt)), "tpr": _tpr, "fpr": _fpr},
        y_true=y, y_pred=decided, sensitive_features=groups,
    ).by_group


def _group(selection: pd.Series, rates: pd.DataFrame, enough: bool, reference: dict) -> dict:
    group, labelled, positives = selection.name, 0, 0
    if group in rates.index:
        labelled, positives = int(rates.loc[group, "labelled"]), int(rates.loc[group, "positives"])
    return {
        "count": int(selection["count"]),
        "selection_rate": float(selection["selection_rate"]),
        "reference_selection_rate": reference.get("selection_rate"),
        "labelled": labelled,
        # a rate of a class the group has no label of is undefined, not 0
        "tpr": float(rates.loc[group, "tpr"]) if enough and positives > 0 else None,
        "fpr": float(rates.loc[group, "fpr"]) if enough and labelled - positives > 0 else None,
    }
