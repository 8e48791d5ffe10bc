"""The model card of each task: the primary metric's paired-bootstrap intervals, the overview, the fairness tables."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss, roc_auc_score, root_mean_squared_error

from driftline.core.fairness import group_fairness
from driftline.core.task import Task
from driftline.release.card import bootstrap_intervals, card_json, card_markdown, decision_text, overview
from driftline.schema import Schema

ROWS = 400


def schema(kind: str) -> Schema:
    target = {"binary": {"type": "category", "categories": ["no", "yes"]},
              "multiclass": {"type": "category", "categories": ["bronze", "silver", "gold"]},
              "regression": {"type": "float", "min": 0, "max": 500}}[kind]
    return Schema(task=kind, target="y", positive_label="yes" if kind == "binary" else None,
                  columns={"x": {"type": "float"}, "group": {"type": "category", "categories": ["g1", "g2"]},
                           "y": target}, sensitive={"group": {}})


def scored(kind: str, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Targets and two models' scores of them, the candidate the better one."""
    rng = np.random.default_rng(seed)
    if kind == "regression":
        y = rng.uniform(50, 300, ROWS)
        return y, {"candidate": y + rng.normal(0, 10, ROWS), "baseline": y + rng.normal(0, 30, ROWS)}
    classes = 2 if kind == "binary" else 3
    y = rng.integers(0, classes, ROWS)
    scores = {}
    for name, signal in (("candidate", 2.0), ("baseline", 0.5)):
        logits = signal * np.eye(classes)[y] + rng.normal(0, 1, (ROWS, classes))
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        scores[name] = p[:, 1] if kind == "binary" else p
    return y, scores


PRIMARY = {"binary": roc_auc_score, "regression": root_mean_squared_error,
           "multiclass": lambda y, p: log_loss(y, p, labels=[0, 1, 2])}


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_bootstrap_intervals_are_of_the_primary_metric(kind):
    y, scores = scored(kind)
    intervals = bootstrap_intervals(kind, y, scores, rounds=100)
    assert set(intervals) == {"candidate", "baseline", "baseline - candidate"}
    for name, (low, high) in intervals.items():
        if " - " not in name:
            assert low < PRIMARY[kind](y, scores[name]) < high
    low, high = intervals["baseline - candidate"]
    better_higher = kind == "binary"  # AUC; log loss and RMSE are better lower
    assert (high < 0) if better_higher else (low > 0)  # the candidate is clearly the better one
    assert bootstrap_intervals(kind, y, scores, rounds=100) == intervals  # seeded


def test_the_overview_and_the_decision_say_what_each_task_answers():
    binary, multiclass, regression = schema("binary"), schema("multiclass"), schema("regression")
    interval = {"interval": {"level": 0.9, "half_width": 0.41}}
    assert overview(binary, {"threshold": 0.4}) == "Binary classifier of 'y' = 'yes'."
    assert overview(multiclass, {}) == "Multiclass classifier of 'y' into 3 classes: bronze, silver, gold."
    assert overview(regression, interval) == ("Regression of 'y' (float, in its own units; declared range 0.0 to "
                                              "500.0), with a 90% prediction interval.")
    assert decision_text(binary, {"threshold": 0.4, "objective": "accuracy"}, 0.005).startswith("threshold 0.400000")
    assert "temperature 1.2000" in decision_text(multiclass, {"temperature": 1.2}, 0.005)
    assert "90% interval of half-width 0.4100" in decision_text(regression, interval, 0.005)


def card_of(kind: str, fairness: dict, target_link: dict | None = None) -> str:
    """The markdown card of a regression or multiclass model, from the facts release gathers."""
    entry = {"model_tag": "driftline:v1", "version": "v1", "created": "2026-01-01T00:00:00+00:00", "git_commit": "abc",
             "git_dirty": False, "data_version": "d1", "training_epochs": {"epochs": 3, "best_epoch": 2}}
    y, scores = scored(kind)
    primary = {"multiclass": "log_loss", "regression": "rmse"}[kind]
    facts = {
        "overview": overview(schema(kind), {"interval": {"level": 0.9, "half_width": 0.3}}),
        "output_format": "answers", "architecture": "{}", "intended_use": "tests", "out_of_scope": "all else",
        "data": {"name": "data", "test_rows": ROWS, "train_rows": 1000, "origin": "generated"},
        "comparison": {"candidate": {primary: 1.0, "accuracy": 0.7}, "baseline": {primary: 1.1}},
        "primary": primary, "intervals": bootstrap_intervals(kind, y, scores, rounds=20),
        "decision": "argmax", "selected_by": f"best validation {primary}", "fairness": fairness,
        "top_features": {"x": 0.3}, "limitations": ["small"], "fairness_policy": "not gated",
        "blessing": {"blessed": True, "checks": []}, "infra": {}, "monitoring": {}, "target_link": target_link,
    }
    return card_markdown(card_json(entry, facts))


def test_the_card_tabulates_each_task_s_fairness_and_primary_metric():
    rng = np.random.default_rng(1)
    groups = pd.Series(rng.choice(["g1", "g2"], ROWS))
    y, scores = scored("regression")
    tables, _ = group_fairness(Task.of(schema("regression")), y, scores["candidate"], groups, min_group_size=10)
    card = card_of("regression", {"group": tables})
    assert "| attribute | group | count | mae | rmse | mean_prediction | mean_target | worst | gated |" in card
    assert "Paired-bootstrap intervals of rmse differences: baseline - candidate:" in card
    assert "| rmse | 1.0000 |" in card  # the primary metric carries its interval
    assert "(best validation rmse)" in card
    assert "No sensitive attributes are declared" in card_of("regression", {})

    y, scores = scored("multiclass")
    decided = scores["candidate"].argmax(axis=1)
    tables, _ = group_fairness(Task.of(schema("multiclass")), y, decided, groups, min_group_size=10)
    card = card_of("multiclass", {"group": tables})
    row = next(line for line in card.splitlines() if line.startswith("| group | g1 |"))
    assert row.split(" | ")[2].isdigit() and row.endswith("| yes |")  # a count, whole; gated
    assert "recall_bronze" in card and "Multiclass classifier of 'y' into 3 classes" in card


def test_the_card_says_a_regressions_link_and_how_it_was_chosen():
    chosen = {"link": "poisson", "mean": 0.6, "std": 1.0, "validation": {"poisson": 1.38, "log1p": 1.44}}
    card = card_of("regression", {}, chosen)
    assert ("- Target: poisson (a log link and the Poisson loss), in both members, chosen on validation RMSE "
            "(poisson 1.3800, log1p 1.4400)") in card
    assert "- Target: identity (the target standardised, squared error), in both members\n" in card_of(
        "regression", {}, {"link": "identity", "mean": 0.0, "std": 1.0})
    # a transform saved before links: its log flag
    assert "- Target: log (log(target) standardised" in card_of("regression", {}, {"log": True, "mean": 0, "std": 1})
    assert "- Target:" not in card_of("multiclass", {})
