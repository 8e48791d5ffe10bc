"""boost stage: the gradient-boosting member, LightGBM on the same splits and transform as the network.

Its raw output is the network's (core.trees), so evaluate can blend the two. Where the network
cross-validates (train.cv_below_rows), so does this member, on the same folds: one booster per fold,
early-stopped on the fold it did not see, and the member's output is their mean. Otherwise one booster
early-stops on the validation split.
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
from driftline.core.encoding import Transform
from driftline.core.splits import cv_folds, fold_count, load_split
from driftline.core.task import Task
from driftline.core.trees import Trees, categorical, matrix
from driftline.core.verbosity import stage_line

# The meta-learned defaults (Holzmueller et al. 2024; pytabkit's LGBM_TD_CLASS and LGBM_TD_REG) of the knobs
# params.yaml leaves null.
TUNED_DEFAULTS = {
    "classification": {"learning_rate": 0.04, "num_leaves": 50, "min_data_in_leaf": 40, "subsample": 0.75},
    "regression": {"learning_rate": 0.05, "num_leaves": 100, "min_data_in_leaf": 3, "subsample": 0.7},
}
OBJECTIVES = {"binary": ("binary", "binary_logloss"), "multiclass": ("multiclass", "multi_logloss"),
              "regression": ("regression", "l2")}


def settings(task: Task, cfg: BoostParams) -> dict:
    """LightGBM's parameters for the task: params.yaml's knobs, the task's meta-learned defaults where they are
    null, the task's objective, and deterministic training."""
    defaults = TUNED_DEFAULTS["regression" if task.kind == "regression" else "classification"]
    chosen = {name: value if (value := getattr(cfg, name)) is not None else default
              for name, default in defaults.items()}
    objective, metric = OBJECTIVES[task.kind]
    return {
        "objective": objective, "metric": metric, **({"num_class": task.outputs} if task.kind == "multiclass" else {}),
        "learning_rate": chosen["learning_rate"], "num_leaves": chosen["num_leaves"],
        "min_data_in_leaf": chosen["min_data_in_leaf"], "bagging_fraction": chosen["subsample"], "bagging_freq": 1,
        "feature_fraction": cfg.colsample_bytree, "min_sum_hessian_in_leaf": cfg.min_sum_hessian_in_leaf,
        "max_bin": cfg.max_bin, "seed": cfg.seed, "num_threads": cfg.threads, "deterministic": True,
        "force_col_wise": True, "verbosity": -1,
    }


def fit_trees(x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, cats: list[int], options: dict,
              cfg: BoostParams) -> lgb.Booster:
    """One booster, early-stopped on (X_VAL, Y_VAL)."""
    train = lgb.Dataset(x, y, categorical_feature=cats, free_raw_data=True)
    val = lgb.Dataset(x_val, y_val, categorical_feature=cats, reference=train)
    return lgb.train(options, train, num_boost_round=cfg.max_rounds, valid_sets=[val],
                     callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, first_metric_only=True, verbose=False)])


def targets(task: Task, transform: Transform, frame) -> np.ndarray:
    """What the boosters learn: class codes, or the standardised target (the network's raw output)."""
    y = task.targets(frame)
    return transform.target.encode(y) if task.kind == "regression" else y


def run(params: Params, splits_dir: Path, out_dir: Path, metrics_path: Path) -> dict:
    """Fit the boosters; write trees.json and the metrics (best rounds, validation loss)."""
    cfg, task = params.boost, Task.of(params.schema)
    transform = Transform.load(splits_dir / "transform.json")
    train, val = load_split(splits_dir, "train"), load_split(splits_dir, "val")
    task.require(task.targets(train), "training")
    task.require(task.targets(val), "validation")
    x, y = matrix(transform, columns_of(train, transform.columns)), targets(task, transform, train)
    cats, options = categorical(transform), settings(task, cfg)
    folds = fold_count(len(train), params.train)
    started = time.perf_counter()
    if folds == 1:
        x_val = matrix(transform, columns_of(val, transform.columns))
        boosters = [fit_trees(x, y, x_val, targets(task, transform, val), cats, options, cfg)]
    else:
        fold = cv_folds(task.strata(task.targets(train)), folds, params.train.seed)
        boosters = [fit_trees(x[fold != k], y[fold != k], x[fold == k], y[fold == k], cats, options, cfg)
                    for k in range(folds)]
    seconds = time.perf_counter() - started
    Trees(boosters, task.outputs).save(out_dir)
    metric = options["metric"]
    metrics = {f"best_val_{metric}": float(np.mean([b.best_score["valid_0"][metric] for b in boosters])),
               "folds": folds, "rounds": round(float(np.mean([b.best_iteration for b in boosters])))}
    stage_line(f"boost: {folds} booster(s) of {metrics['rounds']} rounds (the mean kept) in {seconds:.1f} s",
               sys.stderr)
    write_json(metrics_path, metrics)
    return metrics
