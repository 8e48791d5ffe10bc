"""What the release reads of evaluate's outputs for each task, which champion it can compare a candidate with, and
which moves a release still owes a version registered before."""

import numpy as np
import pandas as pd

from driftline.core.task import Task
from driftline.registry.store import CHALLENGER, CHAMPION, Registry
from driftline.release.judge import metrics_of, stored_scores
from driftline.release.publish import owed, stale_gate
from driftline.schema import Schema


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


def test_a_release_owes_the_moves_its_history_never_made(tmp_path):
    registry = Registry(tmp_path)
    for name, blessed in (("a", True), ("b", True), ("c", False), ("d", True)):
        registry.register({"version": name, "model_tag": f"m:{name}", "blessed": blessed, "failed_checks": []})
    assert owed(registry, registry.get("b")) == [CHALLENGER, CHAMPION]  # died right after it registered b
    registry.move(CHALLENGER, "b", "new candidate")
    assert owed(registry, registry.get("b")) == [CHAMPION]  # died after the challenger's move
    registry.move(CHAMPION, "b", "blessed")
    registry.move(CHAMPION, "a", "superseded")
    registry.move(CHAMPION, "a", "rolled back", rollback=True)
    assert owed(registry, registry.get("b")) == []  # released once: never again, superseded or not
    assert owed(registry, registry.get("c")) == [CHALLENGER]  # a refused model only becomes challenger
    registry.move(CHALLENGER, "c", "new candidate")
    assert owed(registry, registry.get("c")) == []
    with registry.transaction():
        registry.get("d")["refused"] = {"time": "t", "reason": "worse", "decision": "decisions/d/t.json"}
    assert owed(registry, registry.get("d")) == []


def test_a_blessing_stands_only_while_the_champion_it_was_judged_against_is_champion(tmp_path):
    registry = Registry(tmp_path)
    registry.register({"version": "a", "model_tag": "m:a", "blessed": True, "failed_checks": []})
    assert stale_gate(registry, {"version": "b", "champion_at_gate": None}) is None  # the first model
    registry.move(CHAMPION, "a", "first")
    assert stale_gate(registry, {"version": "b", "champion_at_gate": "a"}) is None
    assert "the champion is a, not none" in stale_gate(registry, {"version": "b", "champion_at_gate": None})
