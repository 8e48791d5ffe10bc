"""evaluate stage: the members blended on validation; the blend, each member, a gradient-boosting baseline and a
dummy on the same test split, by the task's metrics."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import roc_curve

from driftline.config import EvaluateParams, Params
from driftline.core.artifacts import write_json
from driftline.core.blend import MEMBERS, PRIMARY_SELECTION, Blend, blended, select, selection_metric
from driftline.core.data import coerce_column, columns_of
from driftline.core.decision import fit_decision
from driftline.core.encoding import Transform
from driftline.core.metrics import choose_threshold, task_metrics
from driftline.core.splits import load_split
from driftline.core.task import Task
from driftline.schema import ColumnSpec, Schema

log = logging.getLogger(__name__)

SMALL_DATA_ROWS = 1000  # fewer training rows than this: the baseline stops early on a validation fraction
MAX_NATIVE_CATEGORIES = 255  # HistGradientBoosting's largest native categorical feature (its max_bins)
ROC_POINTS = 200  # points kept of each ROC curve


def fit_baseline(train: pd.DataFrame, schema: Schema, params: EvaluateParams):
    """HistGradientBoosting (a classifier, or a regressor for a regression) on the raw columns, categories as
    native categorical features; on a seeded sample of baseline.max_rows training rows where there are more (a
    reference needs no more)."""
    cfg = params.baseline
    if cfg.max_rows is not None and len(train) > cfg.max_rows:
        log.info("evaluate: the baseline fits on a sample of %d of %d training rows", cfg.max_rows, len(train))
        train = train.sample(n=cfg.max_rows, random_state=cfg.seed)
    task = Task.of(schema)
    y = task.targets(train)
    model = HistGradientBoostingRegressor if task.kind == "regression" else HistGradientBoostingClassifier
    model = model(max_iter=cfg.max_iter, learning_rate=cfg.learning_rate, categorical_features="from_dtype",
                  random_state=cfg.seed, **early_stopping(y, task.kind != "regression"))
    return model.fit(_as_categories(train, schema), y)


def early_stopping(y: np.ndarray, classes: bool = True) -> dict:
    """HistGradientBoosting's early-stopping settings for training targets Y.

    sklearn stops early by itself from 10,000 rows ("auto"). Below SMALL_DATA_ROWS the full budget of
    rounds learns the rows by heart, so a validation fraction stops it too (stratified for CLASSES, and
    large enough to hold a row of each); with fewer than two rows of a class there is nothing to hold out.
    """
    if len(y) >= SMALL_DATA_ROWS:
        return {}
    if not classes:
        return {"early_stopping": True, "validation_fraction": 0.1}
    counts = np.bincount(y)
    if counts[counts > 0].min() < 2:
        return {"early_stopping": False}
    return {"early_stopping": True, "validation_fraction": max(0.1, len(counts) / len(y))}


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


def run(params: Params, splits_dir: Path, model_dir: Path, trees_dir: Path, decision_path: Path, scores_path: Path,
        metrics_path: Path, plots_dir: Path) -> dict:
    """Blend the members on validation (core.blend), and score the blend, each member alone, the baseline and a
    dummy (class prior, or the mean) on test, with every post-hoc choice (core.decision; the baseline's own
    threshold) fitted on validation; write the decision, scores, metrics and plots.

    The blend's decision goes to decision_path on its own (unrounded), with its weights (`blend`), so that
    audit and package depend on it and not on the baseline's figures. Metrics are the blend's (`model`, no
    prefix), then `deep_`, `boost_`, `baseline_` and `dummy_`. scores_path gets each test row's target and
    every model's scores (for the gate's paired bootstrap): `<name>` (binary probability, regression
    prediction) or `<name>_<code>` (multiclass class probabilities). Plot data goes to
    plots_dir/{roc,calibration}/{model,baseline}.json; a regression has no ROC, and its calibration plot is
    the mean target against the mean prediction by prediction decile.
    """
    schema, cfg = params.schema, params.evaluate
    task = Task.of(schema)
    transform = Transform.load(splits_dir / "transform.json")
    val, test = load_split(splits_dir, "val"), load_split(splits_dir, "test")
    y_val, y_test = task.targets(val), task.targets(test)
    task.require(y_val, "validation")  # the decision is fitted there
    task.require(y_test, "test")
    members = Blend.load(transform, {"deep": 1.0, "boost": 1.0 if Blend.has_trees(trees_dir) else 0.0},
                         model_dir, trees_dir)
    raw_val, raw_test = (members.members(columns_of(f, transform.columns)) for f in (val, test))
    metric, higher = selection_metric(task, y_val, transform.target)
    weights = select(raw_val, lambda raw: -metric(raw) if higher else metric(raw), cfg.blend_rounds)
    raw_val["model"], raw_test["model"] = blended(raw_val, weights), blended(raw_test, weights)
    decisions = {name: fit_decision(task, raw, y_val, cfg, transform.target) for name, raw in raw_val.items()}
    decision = decisions["model"] | {"blend": {
        "weights": weights, "metric": PRIMARY_SELECTION[task.kind],
        "validation": {name: float(metric(raw)) for name, raw in raw_val.items()}}}
    train = load_split(splits_dir, "train")
    x_val, x_test = (_as_categories(f, schema) for f in (val, test))
    answers = {name: task.decode(raw_test[name], decisions[name], transform.target) | _threshold(decisions[name])
               for name in ("model", *MEMBERS) if name in raw_test}
    answers |= {"baseline": _reference_answers(task, fit_baseline(train, schema, cfg), x_val, y_val, x_test, cfg),
                "dummy": _reference_answers(task, _fit_dummy(task, train, schema, cfg), x_val, y_val, x_test, cfg)}
    metrics, scores = {}, {"target": y_test}
    for name, result in answers.items():
        prefix = "" if name == "model" else f"{name}_"
        values = task_metrics(task.kind, y_test, result, cfg.calibration_bins, result.get("threshold"))
        if "threshold" in result:
            values["threshold"] = float(result["threshold"])
        metrics |= {prefix + k: round(v, 6) for k, v in values.items()}
        scores |= _score_columns(name, result)
    metrics |= {f"weight_{name}": weights.get(name, 0.0) for name in MEMBERS}
    write_json(decision_path, decision)
    pd.DataFrame(scores).to_parquet(scores_path)
    write_json(metrics_path, metrics)
    for name in ("model", "baseline"):
        for kind, rows in _plots(task, y_test, answers[name], cfg.calibration_bins).items():
            write_json(plots_dir / kind / f"{name}.json", rows)
    (plots_dir / "roc").mkdir(parents=True, exist_ok=True)  # dvc.yaml's output, empty for a regression
    return metrics


def _threshold(decision: dict) -> dict:
    return {"threshold": decision["threshold"]} if "threshold" in decision else {}


def _fit_dummy(task: Task, train: pd.DataFrame, schema: Schema, params: EvaluateParams):
    y = task.targets(train)
    dummy = DummyRegressor(strategy="mean") if task.kind == "regression" else DummyClassifier(strategy="prior")
    return dummy.fit(_as_categories(train, schema), y)


def _reference_answers(task: Task, model, x_val: pd.DataFrame, y_val: np.ndarray, x_test: pd.DataFrame,
                       params: EvaluateParams) -> dict[str, np.ndarray]:
    """A scikit-learn model's answers on test (X_TEST: _as_categories) in the model's terms; a binary one gets
    its own threshold on validation, as the model does."""
    if task.kind == "regression":
        return {"prediction": model.predict(x_test)}
    probabilities = np.zeros((len(x_test), max(task.outputs, 2)))
    probabilities[:, model.classes_] = model.predict_proba(x_test)
    if task.kind == "multiclass":
        return {"probabilities": probabilities, "probability": probabilities.max(axis=1)}
    p_val = np.zeros(len(x_val)) if len(model.classes_) < 2 else model.predict_proba(x_val)[:, 1]
    threshold = choose_threshold(y_val, p_val, params.threshold_objective, params.threshold_tolerance)
    return {"probability": probabilities[:, 1], "threshold": threshold}


def _score_columns(name: str, answers: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if "probabilities" in answers:
        return {f"{name}_{code}": p for code, p in enumerate(answers["probabilities"].T)}
    return {name: answers["probability"] if "probability" in answers else answers["prediction"]}


def _plots(task: Task, y: np.ndarray, answers: dict[str, np.ndarray], bins: int) -> dict[str, list[dict]]:
    """ROC (binary; multiclass: micro-averaged one-vs-rest) and calibration curves of one model on test."""
    if task.kind == "regression":
        prediction = answers["prediction"]
        band = np.searchsorted(np.unique(np.quantile(prediction, np.linspace(0, 1, bins + 1)[1:-1])), prediction)
        return {"calibration": [{"predicted": float(prediction[band == b].mean()),
                                 "observed": float(y[band == b].mean())} for b in np.unique(band)]}
    if task.kind == "multiclass":
        p = answers["probabilities"]
        hits, scores = (np.arange(p.shape[1]) == y[:, None]).ravel(), p.ravel()
        top = p.argmax(axis=1)
        calibration = _calibration_curve((top == y).astype(float), p.max(axis=1), bins)
    else:
        hits, scores = y, answers["probability"]
        calibration = _calibration_curve(y, scores, bins)
    fpr, tpr, _ = roc_curve(hits, scores)
    keep = np.unique(np.linspace(0, len(fpr) - 1, ROC_POINTS).astype(int))
    return {"roc": [{"fpr": float(f), "tpr": float(t)} for f, t in zip(fpr[keep], tpr[keep])],
            "calibration": calibration}


def _calibration_curve(y: np.ndarray, p: np.ndarray, bins: int) -> list[dict]:
    band = np.minimum((p * bins).astype(int), bins - 1)
    return [
        {"predicted": float(p[band == b].mean()), "observed": float(y[band == b].mean())}
        for b in range(bins)
        if (band == b).any()
    ]
