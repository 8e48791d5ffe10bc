"""Fairness per task: the audit's per-group tables and gaps (core.fairness), and their drift in monitoring."""

from functools import partial

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    mean_prediction,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, root_mean_squared_error

from driftline.core.fairness import group_fairness
from driftline.core.task import Task
from driftline.monitoring.fairness import answer_rates, fairness_drift, label_rates
from driftline.schema import Schema

CLASSES = ["low", "mid", "high"]


def schema(task: str) -> Schema:
    target = {"type": "float"} if task == "regression" else {
        "type": "category", "categories": ["no", "yes"] if task == "binary" else CLASSES}
    return Schema.model_validate({
        "task": task, "target": "y", "positive_label": "yes" if task == "binary" else None,
        "sensitive": {"colour": {}},
        "columns": {"colour": {"type": "category", "categories": ["red", "blue", "green"]}, "y": target},
    })


def test_binary_group_metrics_and_gaps():
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0])
    p = np.array([0.9, 0.8, 0.7, 0.1, 0.9, 0.2, 0.3, 0.1])
    groups = pd.Series(["a"] * 4 + ["b"] * 4)
    tables, gaps = group_fairness(Task.of(schema("binary")), y, p, groups, threshold=0.5)
    assert tables["a"]["selection_rate"] == pytest.approx(0.75)
    assert tables["b"]["selection_rate"] == pytest.approx(0.25)
    assert tables["a"]["tpr"] == 1 and tables["b"]["tpr"] == 0.5
    assert tables["a"]["fpr"] == 0.5 and tables["b"]["fpr"] == 0
    assert gaps["demographic_parity_difference"] == pytest.approx(0.5)
    assert gaps["equalized_odds_difference"] == pytest.approx(0.5)


def test_binary_gaps_are_fairlearns_over_the_gated_groups():
    rng = np.random.default_rng(0)
    groups = pd.Series(rng.choice(["a", "b", "c", "d"], 600, p=[0.45, 0.35, 0.17, 0.03]))
    y = (rng.uniform(size=600) < np.where(groups == "a", 0.5, 0.3)).astype(np.int64)
    p = np.clip(0.35 * y + rng.uniform(size=600) * 0.7, 0, 1)
    tables, gaps = group_fairness(Task.of(schema("binary")), y, p, groups, min_group_size=10, threshold=0.5)
    assert not tables["d"]["gated"] and all(tables[g]["gated"] for g in "abc")
    kept, decided = groups.isin(["a", "b", "c"]).to_numpy(), (p >= 0.5).astype(int)
    assert gaps["demographic_parity_difference"] == demographic_parity_difference(
        y[kept], decided[kept], sensitive_features=groups[kept])
    assert gaps["equalized_odds_difference"] == equalized_odds_difference(
        y[kept], decided[kept], sensitive_features=groups[kept])


def test_multiclass_groups_report_accuracy_macro_f1_and_recall_per_class():
    y = np.array([0, 1, 2, 0, 1, 2, 0, 0, 1, 1, 0, 2])
    decided = np.array([0, 1, 1, 0, 1, 2, 1, 0, 1, 0, 2, 0])
    groups = pd.Series(["a"] * 6 + ["b"] * 4 + ["c"] * 2)
    tables, gaps = group_fairness(Task.of(schema("multiclass")), y, decided, groups, min_group_size=4)
    a, b = tables["a"], tables["b"]
    assert a["accuracy"] == pytest.approx(5 / 6) and b["accuracy"] == pytest.approx(0.5)
    assert a["macro_f1"] == pytest.approx(f1_score(y[:6], decided[:6], average="macro"))
    assert (a["recall_low"], a["recall_mid"], a["recall_high"]) == (1.0, 1.0, 0.5)
    assert (b["recall_low"], b["recall_mid"]) == (0.5, 0.5) and np.isnan(b["recall_high"])  # b holds no "high"
    assert a["selection_rate_mid"] == pytest.approx(0.5) and b["selection_rate_high"] == 0.0
    assert (a["gated"], b["gated"], tables["c"]["gated"]) == (True, True, False)
    # c (two rows, none right) is left out; the recall gap is the largest over the classes both groups hold
    assert tables["c"]["accuracy"] == 0.0
    assert gaps == {"accuracy_gap": pytest.approx(5 / 6 - 0.5), "recall_gap": pytest.approx(0.5),
                    "macro_f1_gap": pytest.approx(a["macro_f1"] - b["macro_f1"])}


def test_regression_groups_report_errors_and_the_worst_group():
    rng = np.random.default_rng(1)
    groups = pd.Series(np.repeat(["a", "b", "c"], [50, 40, 5]))
    y = rng.normal(100, 10, len(groups))
    noise = np.where(groups == "b", 8.0, 2.0)
    prediction = y + rng.normal(0, 1, len(groups)) * noise
    tables, gaps = group_fairness(Task.of(schema("regression")), y, prediction, groups, min_group_size=10)
    errors = {g: mean_absolute_error(y[groups == g], prediction[groups == g]) for g in "abc"}
    assert tables["a"]["mae"] == pytest.approx(errors["a"])
    assert tables["b"]["rmse"] == pytest.approx(root_mean_squared_error(y[groups == "b"], prediction[groups == "b"]))
    assert tables["c"]["mean_prediction"] == pytest.approx(prediction[groups == "c"].mean())
    assert tables["a"]["count"] == 50 and tables["a"]["mean_target"] == pytest.approx(y[:50].mean())
    assert [g for g, t in tables.items() if t["worst"]] == ["b"] and not tables["c"]["gated"]
    assert gaps["mae_gap"] == pytest.approx(errors["b"] - errors["a"])
    assert gaps["mean_prediction_gap"] == pytest.approx(abs(prediction[:50].mean() - prediction[50:90].mean()))


def test_one_gated_group_has_no_gaps():
    groups = pd.Series(["a"] * 20 + ["b"] * 3)
    y = np.arange(23, dtype=float)
    tables, gaps = group_fairness(Task.of(schema("regression")), y, y + 1, groups, min_group_size=10)
    assert gaps == {"mae_gap": 0.0, "rmse_gap": 0.0, "mean_prediction_gap": 0.0}
    assert tables["a"]["worst"] and not tables["b"]["gated"]


def window(kind: str, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The sensitive column, what a model answered and the targets, for 300 rows."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"colour": rng.choice(["red", "blue", "green"], 300, p=[0.5, 0.45, 0.05])})
    if kind == "multiclass":
        y = rng.integers(0, 3, 300)
        logits = rng.normal(size=(300, 3)) + 1.5 * np.eye(3)[y]
        return frame, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), y
    y = rng.normal(50, 5, 300)
    return frame, y + rng.normal(0, np.where(frame["colour"] == "red", 1.0, 3.0)), y


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_fairness_drift_of_the_audited_rows_is_the_audit(kind):
    frame, predicted, y = window(kind)
    task, declared = Task.of(schema(kind)), schema(kind)
    answered = predicted.argmax(axis=1) if kind == "multiclass" else predicted
    reference, _ = group_fairness(task, y, answered, frame["colour"], min_group_size=30)
    assert not reference["green"]["gated"]
    drift = fairness_drift(frame, predicted, y.astype(float), None, declared, {"colour": reference}, 100)["colour"]
    shown, scored = (["selection_rate_low", "selection_rate_high"], "accuracy") if kind == "multiclass" else (
        ["mean_prediction"], "mae")
    for group, table in drift["groups"].items():
        assert table["count"] == table["labelled"] == reference[group]["count"]
        for name in [*shown, scored]:
            assert table[name] == pytest.approx(table[f"reference_{name}"], abs=1e-12)
    gaps = ["selection_rate_gap", "accuracy_gap"] if kind == "multiclass" else ["mean_prediction_gap", "mae_gap"]
    for gap in gaps:
        assert drift[gap] is not None and drift[gap] == pytest.approx(drift[f"reference_{gap}"], abs=1e-12)
    if kind == "regression":  # the audit's own gap: the same groups, the same numbers
        assert drift["mae_gap"] == pytest.approx(abs(reference["red"]["mae"] - reference["blue"]["mae"]))


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_label_based_fairness_drift_waits_for_labels_and_predictions_do_not(kind):
    frame, predicted, y = window(kind)
    partial_labels = np.where(np.arange(300) < 40, y, np.nan)
    drift = fairness_drift(frame, predicted, partial_labels, None, schema(kind), {}, min_labelled_rows=50)["colour"]
    scored, shown_gap, scored_gap = ("accuracy", "selection_rate_gap", "accuracy_gap") if kind == "multiclass" else (
        "mae", "mean_prediction_gap", "mae_gap")
    assert drift[shown_gap] is not None and drift[scored_gap] is None and drift[f"reference_{shown_gap}"] is None
    assert all(t[scored] is None for t in drift["groups"].values())
    assert sum(t["labelled"] for t in drift["groups"].values()) == 40
    # without an audit table every group is compared, green (a handful of rows) too
    enough = fairness_drift(frame, predicted, partial_labels, None, schema(kind), {}, min_labelled_rows=40)["colour"]
    assert enough[scored_gap] is not None and set(enough["groups"]) == {"red", "blue", "green"}


def test_multiclass_selection_rate_gap_follows_a_shift_of_one_group():
    frame, probabilities, y = window("multiclass")
    shifted = probabilities.copy()
    shifted[(frame["colour"] == "red").to_numpy()] = [0.1, 0.1, 0.8]  # every red row decided "high"
    before = fairness_drift(frame, probabilities, y.astype(float), None, schema("multiclass"), {}, 50)["colour"]
    after = fairness_drift(frame, shifted, y.astype(float), None, schema("multiclass"), {}, 50)["colour"]
    assert after["groups"]["red"]["selection_rate_high"] == 1.0
    assert after["selection_rate_gap"] > before["selection_rate_gap"]
    assert after["groups"]["red"]["accuracy"] == pytest.approx(np.mean(y[frame["colour"] == "red"] == 2))


def fairlearns(functions: dict, y: np.ndarray, answered: np.ndarray, groups: np.ndarray) -> pd.DataFrame:
    return MetricFrame(metrics=functions, y_true=y, y_pred=answered, sensitive_features=groups).by_group


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_monitorings_pandas_group_rates_are_fairlearns(kind):
    rng = np.random.default_rng(7)
    groups = rng.choice(["a", "b", "c", "d"], 5000, p=[0.5, 0.3, 0.15, 0.05])
    task = Task.of(schema(kind))
    if kind == "regression":
        y = rng.normal(100, 10, 5000)
        answered = y + rng.normal(0, np.where(groups == "b", 8.0, 2.0))
        every, labelled = {"mean_prediction": mean_prediction}, {"mae": mean_absolute_error}
    elif kind == "multiclass":
        y, answered = rng.integers(0, 3, 5000), rng.integers(0, 3, 5000)
        every = {f"selection_rate_{c}": partial(selection_rate, pos_label=code) for code, c in enumerate(CLASSES)}
        labelled = {"accuracy": accuracy_score}
    else:
        y = (rng.uniform(size=5000) < np.where(groups == "a", 0.5, 0.3)).astype(np.int64)
        answered = (rng.uniform(size=5000) < 0.3 + 0.4 * y).astype(np.int64)
        every = {"selection_rate": selection_rate}
        labelled = {"positives": lambda yt, yp: int(np.sum(yt)), "tpr": partial(true_positive_rate, pos_label=1),
                    "fpr": partial(false_positive_rate, pos_label=1)}
    exact = kind != "regression"  # means of floats: pandas and numpy add up in different orders
    ours = answer_rates(task, answered, groups)
    theirs = fairlearns({"count": count} | every, answered, answered, groups)
    pd.testing.assert_frame_equal(ours[theirs.columns], theirs, check_dtype=False, check_names=False,
                                  check_exact=exact, rtol=1e-12)
    ours = label_rates(task, y, answered, groups)
    theirs = fairlearns({"labelled": count} | labelled, y, answered, groups)
    pd.testing.assert_frame_equal(ours[theirs.columns], theirs, check_dtype=False, check_names=False,
                                  check_exact=exact, rtol=1e-12)
