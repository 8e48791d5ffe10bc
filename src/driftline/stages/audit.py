"""audit stage: SHAP attributions summed back to raw columns, and fairness per sensitive group."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import shap  # noqa: E402
from fairlearn.metrics import (  # noqa: E402
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import roc_auc_score  # noqa: E402

from driftline.config import Params, Schema  # noqa: E402
from driftline.core.artifacts import write_json  # noqa: E402
from driftline.core.data import labels, sensitive_groups  # noqa: E402
from driftline.core.encoding import Transform  # noqa: E402
from driftline.core.explain import ADDITIVITY_TOLERANCE, additivity_error, column_attributions  # noqa: E402
from driftline.core.model import TabularNet  # noqa: E402
from driftline.core.predictor import probabilities  # noqa: E402
from driftline.core.splits import load_split  # noqa: E402
from driftline.errors import AuditError  # noqa: E402


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")


def group_fairness(y: np.ndarray, p: np.ndarray, threshold: float, groups: pd.Series,
                   min_group_size: int = 1) -> tuple[dict, dict]:
    """Per-group metrics (fairlearn MetricFrame), and gaps over the groups with at least MIN_GROUP_SIZE rows
    of each label: the two parity gaps of the decisions and the base-rate gap of the labels themselves.

    Rates estimated from a handful of rows are noise (a TPR from four positives), so smaller groups are
    reported with `gated: false` and left out of the gaps.
    """
    decided = (p >= threshold).astype(int)
    frame = MetricFrame(
        metrics={
            "count": lambda yt, yp: len(yt),
            "positives": lambda yt, yp: int(np.sum(yt)),
            "positive_rate": lambda yt, yp: float(np.mean(yt)),
            "selection_rate": lambda yt, yp: selection_rate(yt, yp >= threshold),
            "tpr": lambda yt, yp: true_positive_rate(yt, yp >= threshold, pos_label=1),
            "fpr": lambda yt, yp: false_positive_rate(yt, yp >= threshold, pos_label=1),
            "auc": _auc,
        },
        y_true=y, y_pred=p, sensitive_features=groups.to_numpy(),
    )
    tables = frame.by_group.to_dict(orient="index")
    for table in tables.values():
        table["gated"] = bool(min(table["positives"], table["count"] - table["positives"]) >= min_group_size)
    gated = [g for g, t in tables.items() if t["gated"]]
    kept = groups.isin(gated).to_numpy()
    if len(gated) < 2:
        return tables, {"demographic_parity_difference": 0.0, "equalized_odds_difference": 0.0,
                        "base_rate_difference": 0.0}
    base_rates = [tables[g]["positive_rate"] for g in gated]
    gaps = {
        "demographic_parity_difference": demographic_parity_difference(
            y[kept], decided[kept], sensitive_features=groups[kept]),
        "equalized_odds_difference": equalized_odds_difference(y[kept], decided[kept], sensitive_features=groups[kept]),
        "base_rate_difference": max(base_rates) - min(base_rates),
    }
    return tables, {k: float(v) for k, v in gaps.items()}


def fairness(frame: pd.DataFrame, p: np.ndarray, threshold: float, schema: Schema,
             min_group_size: int) -> tuple[dict, dict]:
    """group_fairness for every sensitive attribute: the tables by attribute, and flat `<attr>_<gap>` metrics."""
    y, tables, metrics = labels(frame, schema), {}, {}
    for name, spec in schema.sensitive.items():
        groups = sensitive_groups(frame[name], spec.bins).reset_index(drop=True)
        tables[name], gaps = group_fairness(y, p, threshold, groups, min_group_size)
        metrics |= {f"{name}_{k}": round(v, 6) for k, v in gaps.items()}
    return tables, metrics


def plot_colours(rows: pd.DataFrame, schema: Schema) -> np.ndarray:
    """(rows, features) values that colour the beeswarm: numbers as they are, categories grey.

    A category's text has no order to colour by, so its column is NaN, which shap draws grey. The matrix is
    float and column i is feature i whatever the order of numbers and categories, even with no number at all.
    """
    return np.column_stack([
        pd.to_numeric(rows[name], errors="coerce").to_numpy(np.float64) if schema.columns[name].numeric
        else np.full(len(rows), np.nan)
        for name in schema.features
    ])


def _plots(values: np.ndarray, rows: pd.DataFrame, schema: Schema, out_dir: Path) -> None:
    """The importance bar chart and the beeswarm of VALUES, (rows, features) attributions."""
    names = list(schema.features)
    explanation = shap.Explanation(values=values, data=plot_colours(rows, schema), feature_names=names)
    for kind, draw in (("importance", shap.plots.bar), ("beeswarm", shap.plots.beeswarm)):
        np.random.seed(0)  # the beeswarm shuffles its points with numpy's global generator: same plot, same hash
        with warnings.catch_warnings():
            # shap takes percentiles of each column to scale its colours: all-NaN for a category
            warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
            draw(explanation, max_display=len(names), show=False)
        plt.gcf().savefig(out_dir / f"shap_{kind}.png", dpi=110, bbox_inches="tight")
        plt.close("all")


def run(params: Params, splits_dir: Path, model_dir: Path, decision_path: Path, out_dir: Path,
        metrics_path: Path) -> dict:
    """Write SHAP plots and importances, per-group fairness tables, and the parity gaps as metrics."""
    schema, cfg = params.schema, params.audit
    transform, model = Transform.load(splits_dir / "transform.json"), TabularNet.load(model_dir)
    train, test = load_split(splits_dir, "train"), load_split(splits_dir, "test")
    background = train.sample(min(cfg.background_rows, len(train)), random_state=cfg.seed)
    explained = test.sample(min(cfg.explain_rows, len(test)), random_state=cfg.seed)
    values, base = column_attributions(model, transform, background, explained)
    error = additivity_error(model, transform, explained, values, base)
    if error > ADDITIVITY_TOLERANCE:
        raise AuditError(f"SHAP attributions do not add up to the logit: off by {error:.2g}")
    write_json(out_dir / "shap_summary.json", {"base_value": base, "additivity_error": error,
                                              "tolerance": ADDITIVITY_TOLERANCE, "rows": len(explained)})
    importance = dict(zip(schema.features, np.abs(values).mean(axis=0).round(6).tolist()))
    write_json(out_dir / "shap_importance.json", dict(sorted(importance.items(), key=lambda kv: -kv[1])))
    _plots(values, explained, schema, out_dir)

    threshold = json.loads(decision_path.read_text())["threshold"]
    tables, metrics = fairness(test, probabilities(model, transform, test), threshold, schema, cfg.min_group_size)
    write_json(out_dir / "fairness.json", tables)
    write_json(metrics_path, metrics)
    return metrics
