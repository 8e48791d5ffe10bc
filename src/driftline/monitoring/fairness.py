"""Fairness drift: each sensitive group's decisions in a window beside the audit's, and the gaps between groups."""

from __future__ import annotations

import math

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


def fairness_drift(frame: pd.DataFrame, probability: np.ndarray, y: np.ndarray, threshold: float, schema: Schema,
                   reference_fairness: dict, min_labelled_rows: int) -> dict:
    """Per sensitive attribute: each group's selection rate (all rows) and TPR/FPR (labelled rows), and the
    parity, TPR and FPR gaps, beside the audit's (REFERENCE_FAIRNESS, its fairness.json tables).

    FRAME holds the typed sensitive columns; Y holds 0/1 labels and NaN where none has arrived. The
    label-based figures are None with fewer than MIN_LABELLED_ROWS labels, and a group's TPR (FPR) is
    None while it has no positive (negative) label. The gaps cover the groups the audit gated, so that
    they compare like with like and leave out groups too small to rate (without an audit table for the
    attribute, every group); a gap is None until two such groups can be rated.
    """
    decided = (np.asarray(probability) >= threshold).astype(np.int64)
    y = np.asarray(y, dtype=np.float64)
    enough = int((~np.isnan(y)).sum()) >= min_labelled_rows
    return {
        name: _attribute(sensitive_groups(frame[name], spec.bins).to_numpy(), decided, y, enough,
                         reference_fairness.get(name, {}))
        for name, spec in schema.sensitive.items()
    }


def _attribute(groups: np.ndarray, decided: np.ndarray, y: np.ndarray, enough: bool, reference: dict) -> dict:
    gated = [g for g, table in reference.items() if table.get("gated", True)] if reference else sorted(set(groups))
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
        "reference_demographic_parity_difference": _spread(reference, gated, "selection_rate"),
        "tpr_gap": tpr_gap,
        "fpr_gap": fpr_gap,
        "reference_tpr_gap": _spread(reference, gated, "tpr"),
        "reference_fpr_gap": _spread(reference, gated, "fpr"),
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


def _spread(reference: dict, gated: list, metric: str) -> float | None:
    """Largest minus smallest of the audit's METRIC over the gated groups (the audit's own gaps)."""
    values = [reference[g][metric] for g in gated if g in reference and _finite(reference[g].get(metric))]
    return max(values) - min(values) if len(values) >= 2 else None


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
