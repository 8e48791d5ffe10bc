"""boost stage: the gradient-boosting member, LightGBM on the same splits and transform as the network.

Its raw output is the network's (core.trees), so evaluate can blend the two. Where the network
cross-validates (train.cv_below_rows), so does this member, on the same folds: one booster per fold,
early-stopped on the fold it did not see, and the member's output is their mean. Otherwise one booster
early-stops on the validation split. `boost.defaults: auto` fits the meta-learned defaults and LightGBM's own
and keeps the one with the lower validation loss (out of fold under cross-validation).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np

from driftline.config import BoostParams, Params
from driftline.core.artifacts import write_json
from driftline.core.data import columns_of
from driftline.core.encoding import TargetScale, Transform
from driftline.core.splits import cv_folds, fold_count, load_split
from driftline.core.task import Task
from driftline.core.trees import Trees, categorical, dataset, matrix, objective
from driftline.core.verbosity import stage_line

# The values of the knobs params.yaml leaves null: the meta-learned defaults (Holzmueller et al. 2024; pytabkit's
# LGBM_TD_CLASS and LGBM_TD_REG) and LightGBM's own.
DEFAULTS = {
    ("td", "classification"): {"learning_rate": 0.04, "num_leaves": 50, "min_data_in_leaf": 40, "subsample": 0.75,
                               "min_sum_hessian_in_leaf": 1e-7},
    ("td", "regression"): {"learning_rate": 0.05, "num_leaves": 100, "min_data_in_leaf": 3, "subsample": 0.7,
                           "min_sum_hessian_in_leaf": 1e-7},
    ("lightgbm", "classification"): {"learning_rate": 0.1, "num_leaves": 31, "min_data_in_leaf": 20, "subsample": 1.0,
                                     "min_sum_hessian_in_leaf": 1e-3},
}
DEFAULTS[("lightgbm", "regression")] = DEFAULTS[("lightgbm", "classification")]


def settings(task: Task, cfg: BoostParams, defaults: str, scale: TargetScale | None = None) -> dict:
    """LightGBM's parameters for the task: params.yaml's knobs, DEFAULTS' values ("td" or "lightgbm") where they
    are null, the task's objective (under a regression's link SCALE), and deterministic training."""
    found = DEFAULTS[(defaults, "regression" if task.kind == "regression" else "classification")]
    chosen = {name: value if (value := getattr(cfg, name)) is not None else default
              for name, default in found.items()}
    name, metric = objective(task.kind, scale)
    return {
        "objective": name, "metric": metric, **({"num_class": task.outputs} if task.kind == "multiclass" else {}),
        "learning_rate": chosen["learning_rate"], "num_leaves": chosen["num_leaves"],
        "min_data_in_leaf": chosen["min_data_in_leaf"], "bagging_fraction": chosen["subsample"], "bagging_freq": 1,
        "feature_fraction": cfg.colsample_bytree, "min_sum_hessian_in_leaf": chosen["min_sum_hessian_in_leaf"],
        "max_bin": cfg.max_bin, "seed": cfg.seed, "num_threads": cfg.threads, "deterministic": True,
        "force_col_wise": True, "verbosity": -1,
    }


def fit_trees(x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, cats: list[int], options: dict,
              cfg: BoostParams, scale: TargetScale | None = None) -> lgb.Booster:
    """One booster, early-stopped on (X_VAL, Y_VAL): learned targets (`targets`), under a regression's SCALE."""
    train = dataset(x, y, cats, scale)
    val = dataset(x_val, y_val, cats, scale, reference=train)
    return lgb.train(options, train, num_boost_round=cfg.max_rounds, valid_sets=[val],
                     callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, first_metric_only=True, verbose=False)])


def targets(task: Task, transform: Transform, frame) -> np.ndarray:
    """What the boosters learn: class codes, or the target as its link learns it (TargetScale.learned)."""
    y = task.targets(frame)
    return transform.target.learned(y) if task.kind == "regression" else y


def run(params: Params, splits_dir: Path, out_dir: Path, metrics_path: Path) -> dict:
    """Fit the boosters (under each set of defaults `boost.defaults` names, keeping the one with the lower
    validation loss); write trees.json and the metrics (validation loss of each, rounds kept)."""
    cfg, task = params.boost, Task.of(params.schema)
    transform = Transform.load(splits_dir / "transform.json")
    train, val = load_split(splits_dir, "train"), load_split(splits_dir, "val")
    task.require(task.targets(train), "training")
    task.require(task.targets(val), "validation")
    x, y = matrix(transform, columns_of(train, transform.columns)), targets(task, transform, train)
    folds = fold_count(len(train), params.train)
    if folds == 1:
        parts = [(x, y, matrix(transform, columns_of(val, transform.columns)), targets(task, transform, val))]
    else:
        fold = cv_folds(task.strata(task.targets(train)), folds, params.train.seed)
        parts = [(x[fold != k], y[fold != k], x[fold == k], y[fold == k]) for k in range(folds)]
    metric = objective(task.kind, transform.target)[1]
    started, fitted = time.perf_counter(), {}
    for defaults in ("td", "lightgbm") if cfg.defaults == "auto" else (cfg.defaults,):
        options = settings(task, cfg, defaults, transform.target)
        boosters = [fit_trees(*part, categorical(transform), options, cfg, transform.target) for part in parts]
        fitted[defaults] = boosters, float(np.mean([b.best_score["valid_0"][metric] for b in boosters]))
    seconds = time.perf_counter() - started
    chosen = min(fitted, key=lambda name: fitted[name][1])
    boosters, loss = fitted[chosen]
    Trees(boosters, task.outputs).save(out_dir)
    metrics = {f"best_val_{metric}": loss, "folds": folds,
               "rounds": round(float(np.mean([b.best_iteration for b in boosters]))),
               **{f"val_{metric}_{name}": value for name, (_, value) in fitted.items()}}
    stage_line(f"boost: {chosen} defaults, {folds} booster(s) of {metrics['rounds']} rounds (the mean kept); "
               f"{len(fitted)} fitted in {seconds:.1f} s", sys.stderr)
    write_json(metrics_path, metrics)
    return metrics
