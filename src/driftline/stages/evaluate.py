"""evaluate stage: the model and a gradient-boosting baseline on the same test split."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_curve

from driftline.config import ColumnSpec, EvaluateParams, Params, Schema
from driftline.core.artifacts import write_json
from driftline.core.data import coerce_column, labels, require_both_labels
from driftline.core.encoding import Transform
from driftline.core.metrics import choose_threshold, classification_metrics
from driftline.core.model import TabularNet
from driftline.core.predictor import probabilities
from driftline.core.splits import load_split

SMALL_DATA_ROWS = 1000  # fewer training rows than this: the baseline stops early on a validation fraction
MAX_NATIVE_CATEGORIES = 255  # HistGradientBoosting's largest native categorical feature (its max_bins)


def fit_baseline(train: pd.DataFrame, schema: Schema, params: EvaluateParams) -> HistGradientBoostingClassifier:
    """HistGradientBoosting on the raw columns, categories as native categorical features; on a seeded
    sample of baseline.max_rows training rows where there are more (a reference needs no more)."""
    cfg = params.baseline
    if cfg.max_rows is not None and len(train) > cfg.max_rows:
        print(f"evaluate: the baseline fits on a sample of {cfg.max_rows} of {len(train)} training rows",
              file=sys.stderr)
        train = train.sample(n=cfg.max_rows, random_state=cfg.seed)
    y = labels(train, schema)
    model = HistGradientBoostingClassifier(
        max_iter=cfg.max_iter, learning_rate=cfg.learning_rate, categorical_features="from_dtype",
        random_state=cfg.seed, **early_stopping(y),
    )
    return model.fit(_as_categories(train, schema), y)


def early_stopping(y: np.ndarray) -> dict:
    """HistGradientBoosting's early-stopping settings for training labels Y.

    sklearn stops early by itself from 10,000 rows ("auto"). Below SMALL_DATA_ROWS the full budget of
    rounds learns the rows by heart, so a stratified validation fraction stops it too, large enough to hold
    a row of each label; with fewer than two rows of a label there is nothing to hold out.
    """
    if len(y) >= SMALL_DATA_ROWS:
        return {}
    if np.bincount(y, minlength=2).min() < 2:
        return {"early_stopping": False}
    return {"early_stopping": True, "validation_fraction": max(0.1, 2 / len(y))}


def _as_categories(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The features as the baseline takes them (_baseline_column)."""
    return pd.DataFrame({name: _baseline_column(name, frame[name].to_numpy(), schema.columns[name])
                         for name in schema.features}, index=frame.index)


def _baseline_column(name: str, values: np.ndarray, spec: ColumnSpec) -> np.ndarray | pd.Categorical:
    """Numbers as floats; a declared category as a pandas category of its canonical text, or, with more than
    MAX_NATIVE_CATEGORIES declared values (zip codes, say), as its position in the declared list, a number:
    HistGradientBoosting refuses a native category with more values than it has bins."""
    if spec.numeric:
        return values.astype(np.float64)
    categories = pd.Categorical(coerce_column(name, values, spec), categories=spec.categories)
    if len(spec.categories) > MAX_NATIVE_CATEGORIES:
        return np.where(categories.codes < 0, np.nan, categories.codes)
    return categories


def run(params: Params, splits_dir: Path, model_dir: Path, decision_path: Path, scores_path: Path,
        metrics_path: Path, plots_dir: Path) -> dict:
    """Score both models on test with thresholds chosen on validation; write the decision, scores, metrics, plots.

    The model's decision threshold goes to decision_path on its own (unrounded), so that audit and package
    depend on the decision and not on the baseline's figures. scores_path gets each test row's label and
    both models' probabilities (for the gate's paired bootstrap). Plot data goes to
    plots_dir/{roc,calibration}/{model,baseline}.json.
    """
    schema, cfg = params.schema, params.evaluate
    transform = Transform.load(splits_dir / "transform.json")
    model = TabularNet.load(model_dir)
    val, test = load_split(splits_dir, "val"), load_split(splits_dir, "test")
    y_val, y_test = labels(val, schema), labels(test, schema)
    require_both_labels(y_val, "validation", schema)  # the threshold is chosen between the two labels
    require_both_labels(y_test, "test", schema)  # AUC ranks one label against the other
    baseline = fit_baseline(load_split(splits_dir, "train"), schema, cfg)
    scores = {
        "model": (probabilities(model, transform, val), probabilities(model, transform, test)),
        "baseline": tuple(baseline.predict_proba(_as_categories(f, schema))[:, 1] for f in (val, test)),
    }
    metrics, plots, thresholds = {}, {}, {}
    for name, (p_val, p_test) in scores.items():
        threshold = thresholds[name] = choose_threshold(y_val, p_val, cfg.threshold_objective,
                                                          cfg.threshold_tolerance)
        prefix = "" if name == "model" else "baseline_"
        result = classification_metrics(y_test, p_test, threshold, cfg.calibration_bins) | {"threshold": threshold}
        metrics |= {prefix + k: round(v, 6) for k, v in result.items()}
        fpr, tpr, _ = roc_curve(y_test, p_test)
        keep = np.unique(np.linspace(0, len(fpr) - 1, 200).astype(int))
        plots[f"roc/{name}.json"] = [{"fpr": float(f), "tpr": float(t)} for f, t in zip(fpr[keep], tpr[keep])]
        plots[f"calibration/{name}.json"] = _calibration_curve(y_test, p_test, cfg.calibration_bins)
    write_json(decision_path, {"threshold": thresholds["model"], "objective": cfg.threshold_objective})
    pd.DataFrame({"label": y_test} | {name: p_test for name, (_, p_test) in scores.items()}).to_parquet(scores_path)
    write_json(metrics_path, metrics)
    for name, rows in plots.items():
        write_json(plots_dir / name, rows)
    return metrics


def _calibration_curve(y: np.ndarray, p: np.ndarray, bins: int) -> list[dict]:
    band = np.minimum((p * bins).astype(int), bins - 1)
    return [
        {"predicted": float(p[band == b].mean()), "observed": float(y[band == b].mean())}
        for b in range(bins)
        if (band == b).any()
    ]
