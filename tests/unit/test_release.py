"""What the release reads of evaluate's outputs for each task, and which champion it can compare a candidate with."""

import numpy as np
import pandas as pd

from driftline.config import Schema
from driftline.core.task import Task
from driftline.registry.release import metrics_of, stored_scores


def schema(kind: str, target: str = "y", classes: tuple = ("a", "b", "c"), positive: str = "b") -> Schema:
    spec = {"type": "float"} if kind == "regression" else {"type": "category", "categories": list(classes)}
    return Schema(task=kind, target=target, positive_label=positive if kind == "binary" else None,
                  columns={"x": {"type": "float"}, target: spec})


def test_each_model_s_metrics_are_the_task_s_in_its_prefix():
    evaluation = {"rmse": 9.0, "mae": 7.0, "r2": 0.5, "coverage": 0.9, "baseline_rmse": 10.0, "baseline_mae": 8.0,
                  "baseline_r2": 0.4, "dummy_rmse": 16.0, "dummy_mae": 13.0, "dummy_r2": 0.0}
    assert metrics_of(evaluation, "", "regression") == {"rmse": 9.0, "mae": 7.0, "r2": 0.5, "coverage": 0.9}
    assert metrics_of(evaluation, "dummy_", "regression") == {"rmse": 16.0, "mae": 13.0, "r2": 0.0}  # no mape
    binary = {"roc_auc": 0.9, "threshold": 0.4, "baseline_roc_auc": 0.91, "baseline_threshold": 0.5}
    assert metrics_of(binary, "baseline_", "binary") == {"roc_auc": 0.91}  # a threshold is not a metric


def test_scores_are_read_by_the_contract_s_column_names():
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet([1, 1, 1], 5)
    scores = pd.DataFrame({"target": [0, 2, 1, 1, 0]} | {f"model_{code}": probabilities[:, code] for code in range(3)})
    assert np.array_equal(stored_scores(scores, "model", Task.of(schema("multiclass"))), probabilities)
    regression = pd.DataFrame({"target": [1.0, 2.0], "model": [1.5, 2.5], "dummy": [1.5, 1.5]})
    assert stored_scores(regression, "dummy", Task.of(schema("regression"))).tolist() == [1.5, 1.5]


def test_a_champion_is_compared_only_when_it_answers_the_same_question():
    pair = ("a", "b")
    assert schema("binary", classes=pair).same_target(schema("binary", classes=pair))
    assert not schema("binary", classes=pair).same_target(schema("binary", classes=pair, positive="a"))
    assert not schema("binary", classes=pair).same_target(schema("multiclass"))
    assert not schema("multiclass").same_target(schema("multiclass", classes=("a", "b", "d")))
    assert not schema("regression").same_target(schema("regression", target="z"))
