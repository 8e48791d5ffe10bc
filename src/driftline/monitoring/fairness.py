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

from driftline.core.data import sensitive_groups
from driftline.core.fairness import spread
from driftline.core.task import Task
from driftline.schema import Schema


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
        answered, attribute = (np.asarray(predicted) >= threshold).astype(np.int64), partial(_binary, task)
    elif task.kind == "multiclass":
        answered, attribute = np.asarray(predicted).argmax(axis=1), partial(_attribute, task)
    else:
        answered, attribute = np.asarray(predicted, dtype=np.float64), partial(_attribute, task)
    return {
        name: attribute(sensitive_groups(frame[name], spec.bins).to_numpy(), answered, y, enough,
                        reference_fairness.get(name, {}))
        for name, spec in schema.sensitive.items()
    }


# The group rates below are pandas groupby means and sums, not fairlearn's MetricFrame: MetricFrame builds one
# Python object per row for every metric and group (45 s of the 325k-row batch of benchmarks/scale.py at 100x);
# tests/unit/test_fairness.py checks the figures against MetricFrame's.
def answer_rates(task: Task, answered: np.ndarray, groups: np.ndarray) -> pd.DataFrame:
    """Per group (the index, sorted), the figures of every row: `count`, and the selection rate of the 0/1
    decisions (binary), of each class, `selection_rate_<class>` (multiclass, ANSWERED holds class codes), or
    the mean prediction (regression)."""
    if task.kind == "binary":
        figures = {"selection_rate": answered == 1}
    elif task.kind == "multiclass":
        figures = {f"selection_rate_{c}": answered == code for code, c in enumerate(task.classes)}
    else:
        figures = {"mean_prediction": answered}
    grouped = pd.DataFrame(figures).groupby(groups, sort=True)
    return grouped.mean().assign(count=grouped.size())


def label_rates(task: Task, y: np.ndarray, answered: np.ndarray, groups: np.ndarray) -> pd.DataFrame:
    """Per group of the labelled rows Y (the index, sorted): `labelled`, and the positives, TPR and FPR (binary:
    NaN without a positive, a negative label), the accuracy (multiclass) or the MAE (regression)."""
    if task.kind == "binary":
        positive, chosen = y == 1, answered == 1
        grouped = pd.DataFrame({"positives": positive, "hits": positive & chosen,
                                "false_alarms": ~positive & chosen}).groupby(groups, sort=True)
        sums, labelled = grouped.sum(), grouped.size()
        return pd.DataFrame({"labelled": labelled, "positives": sums["positives"],
                             "tpr": sums["hits"] / sums["positives"],
                             "fpr": sums["false_alarms"] / (labelled - sums["positives"])})
    figures = {"accuracy": y == answered} if task.kind == "multiclass" else {"mae": np.abs(answered - y)}
    grouped = pd.DataFrame(figures).groupby(groups, sort=True)
    return grouped.mean().assign(labelled=grouped.size())


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
    labelled = ~np.isnan(y)
    target = y[labelled].astype(np.int64) if task.kind == "multiclass" else y[labelled]
    rated = label_rates(task, target, answered[labelled], groups[labelled]).to_dict(orient="index")
    tables = {}
    for group, row in answer_rates(task, answered, groups).to_dict(orient="index").items():
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


def _binary(task: Task, groups: np.ndarray, decided: np.ndarray, y: np.ndarray, enough: bool,
            reference: dict) -> dict:
    """A binary attribute: DECIDED holds the 0/1 decisions."""
    gated = _gated(reference, groups)
    selection = answer_rates(task, decided, groups).to_dict(orient="index")
    labelled = ~np.isnan(y)
    rates = label_rates(task, y[labelled], decided[labelled], groups[labelled]).to_dict(orient="index")
    # TPR and FPR gaps over the gated groups that hold labels of both classes
    rated = [g for g in gated if g in rates and 0 < rates[g]["positives"] < rates[g]["labelled"]]
    return {
        "groups": {group: _group(row, rates.get(group), enough, reference.get(group, {}))
                   for group, row in selection.items()},
        "demographic_parity_difference": spread(selection, gated, ["selection_rate"]),
        "reference_demographic_parity_difference": spread(reference, gated, ["selection_rate"]),
        "tpr_gap": spread(rates, rated, ["tpr"]) if enough else None,
        "fpr_gap": spread(rates, rated, ["fpr"]) if enough else None,
        "reference_tpr_gap": spread(reference, gated, ["tpr"]),
        "reference_fpr_gap": spread(reference, gated, ["fpr"]),
    }


def _group(selection: dict, rates: dict | None, enough: bool, reference: dict) -> dict:
    labelled, positives = (int(rates["labelled"]), int(rates["positives"])) if rates else (0, 0)
    return {
        "count": int(selection["count"]),
        "selection_rate": float(selection["selection_rate"]),
        "reference_selection_rate": reference.get("selection_rate"),
        "labelled": labelled,
        # a rate of a class the group has no label of is undefined, not 0
        "tpr": float(rates["tpr"]) if enough and positives > 0 else None,
        "fpr": float(rates["fpr"]) if enough and labelled - positives > 0 else None,
    }
