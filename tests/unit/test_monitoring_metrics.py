"""Monitoring metrics of a binary model: realised and CBPE-estimated performance, attribution nDCG, fairness by
group (tests/integration/test_performance_by_task_kind.py covers every task, and
tests/integration/test_monitoring_metrics.py the small project's trained model)."""


import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from driftline.core.estimators import fit_calibration
from driftline.core.metrics import classification_metrics
from driftline.core.task import Task
from driftline.monitoring.attribution import ndcg, shares
from driftline.monitoring.fairness import fairness_drift
from driftline.monitoring.performance import CBPE, calibrate, cbpe_binary, performance, realised
from driftline.schema import Schema

IDENTITY = {"x": [0.0, 1.0], "y": [0.0, 1.0]}
GROUPED = Schema.model_validate({
    "task": "binary", "target": "y", "positive_label": "1", "sensitive": {"colour": {}},
    "columns": {"colour": {"type": "category", "categories": ["red", "blue"]}, "y": {"type": "category",
                                                                                   "categories": ["0", "1"]}},
})
BINARY = Task.of(GROUPED)


def calibrated_sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores that are their own probabilities: y ~ Bernoulli(p)."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(size=n)
    return p, (rng.uniform(size=n) < p).astype(np.int64)


def answers(p: np.ndarray, threshold: float = 0.5) -> dict[str, np.ndarray]:
    return {"probability": p, "label": np.where(p >= threshold, "1", "0")}


def test_realised_metrics_are_sklearns_and_the_report_saves(tmp_path):
    p, y = calibrated_sample(2000, 0)
    metrics, snapshot = realised(BINARY, y, answers(p, 0.4), bins=10, threshold=0.4)
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-6)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(y, p >= 0.4), abs=1e-6)
    assert metrics["f1"] == pytest.approx(f1_score(y, p >= 0.4), abs=1e-6)
    assert metrics == classification_metrics(y, p, 0.4, 10)
    evidently = {m["config"]["type"].split(":")[-1]: m["value"] for m in snapshot.dict()["metrics"]}
    for ours, theirs in (("roc_auc", "RocAuc"), ("accuracy", "Accuracy"), ("f1", "F1Score")):
        assert evidently[theirs] == pytest.approx(metrics[ours], abs=1e-6)
    snapshot.save_html(str(tmp_path / "performance.html"))
    assert (tmp_path / "performance.html").stat().st_size > 1000


def test_calibration_learns_the_observed_rate_and_clips_outside_the_fit():
    p = np.linspace(0.2, 0.8, 400)
    calibration = fit_calibration(p, (np.arange(400) % 2 == 0) | (p > 0.6))  # a half below 0.6, all above
    np.testing.assert_allclose(calibrate(calibration, np.array([0.0, 0.3, 0.7, 1.0])), [0.5, 0.5, 1.0, 1.0])


def test_cbpe_matches_what_is_realised_on_a_calibrated_sample():
    p, y = calibrated_sample(5000, 1)
    expected = cbpe_binary(fit_calibration(*calibrated_sample(5000, 2)), p, 0.5)
    assert expected["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=0.02)
    assert expected["accuracy"] == pytest.approx(accuracy_score(y, p >= 0.5), abs=0.02)
    assert expected["f1"] == pytest.approx(f1_score(y, p >= 0.5), abs=0.02)


def test_expected_auc_is_the_trapezoid_of_the_expected_roc_with_ties_together():
    p = np.array([0.9, 0.6, 0.6, 0.2])
    tpr = np.r_[0, np.cumsum(p)[[0, 2, 3]] / p.sum()]  # the tied pair is one step of the curve
    fpr = np.r_[0, np.cumsum(1 - p)[[0, 2, 3]] / (1 - p).sum()]
    trapezoid = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    expected = cbpe_binary(IDENTITY, p, 0.5)
    assert expected["roc_auc"] == pytest.approx(trapezoid, abs=1e-12)
    tp, fp = 2.1, 0.9  # sum p, sum 1 - p over the three decided positives
    assert expected["precision"] == pytest.approx(tp / (tp + fp))
    assert expected["recall"] == pytest.approx(tp / p.sum())


def test_performance_estimates_unlabelled_rows_and_realises_labelled_ones():
    p, y = calibrated_sample(1000, 3)
    partial = np.where(np.arange(1000) < 300, y, np.nan)
    reference = {"roc_auc": 0.8}
    cbpe = CBPE("binary", IDENTITY, 0.5)

    def run(labels: np.ndarray, min_labelled_rows: int = 50):
        return performance(BINARY, answers(p), None, labels, cbpe, reference, min_labelled_rows, 10, 0.5)

    summary, snapshot = run(partial)
    assert (summary["rows"], summary["labelled_rows"], summary["label_coverage"]) == (1000, 300, 0.3)
    assert summary["method"] == "CBPE"
    assert summary["realised"]["roc_auc"] == pytest.approx(roc_auc_score(y[:300], p[:300]))
    assert summary["estimated"] == cbpe_binary(IDENTITY, p[300:], 0.5)
    assert summary["estimated_on_labelled"] == cbpe_binary(IDENTITY, p[:300], 0.5)
    assert summary["reference"] == {"roc_auc": 0.8} and snapshot is not None

    few, _ = run(partial, min_labelled_rows=301)
    one_class, _ = run(np.where(np.arange(1000) < 300, 1.0, np.nan))
    unlabelled, snapshot = run(np.full(1000, np.nan))
    labelled, _ = run(y.astype(float))
    assert few["realised"] is None and few["estimated_on_labelled"] is None and few["estimated"] is not None
    assert one_class["realised"] is None
    assert unlabelled["realised"] is None and snapshot is None and unlabelled["label_coverage"] == 0.0
    assert labelled["estimated"] is None and labelled["realised"] is not None


def test_ndcg_is_one_for_the_same_ranking_and_lower_for_another():
    reference = {"a": 0.5, "b": 0.3, "c": 0.15, "d": 0.05}
    assert ndcg(dict(reference), reference) == 1.0
    assert ndcg({k: v * 7 for k, v in reference.items()}, reference) == 1.0  # the scale does not matter
    swapped_top = ndcg({"a": 0.3, "b": 0.5, "c": 0.15, "d": 0.05}, reference)
    swapped_tail = ndcg({"a": 0.5, "b": 0.3, "c": 0.05, "d": 0.15}, reference)
    assert swapped_tail < 1.0 and swapped_top < swapped_tail  # a swap at the top costs more
    assert sum(shares({"a": 2.0, "b": 1.0, "c": 1.0}).values()) == pytest.approx(1.0)
    assert shares({"a": 2.0, "b": 1.0, "c": 1.0})["a"] == 0.5


def test_label_based_fairness_waits_for_enough_labels():
    frame = pd.DataFrame({"colour": ["red"] * 6 + ["blue"] * 6})
    p = np.array([0.9, 0.8, 0.2, 0.1, 0.7, 0.3, 0.9, 0.2, 0.1, 0.1, 0.1, 0.6])
    y = np.array([1, 1, 0, 0, 1, 0, 1, 0, 0, 0, np.nan, np.nan])
    enough = fairness_drift(frame, p, y, 0.5, GROUPED, {}, min_labelled_rows=10)["colour"]
    assert enough["groups"]["red"] == {"count": 6, "selection_rate": 0.5, "reference_selection_rate": None,
                                       "labelled": 6, "tpr": 1.0, "fpr": 0.0}
    assert enough["groups"]["blue"]["selection_rate"] == pytest.approx(2 / 6)
    assert enough["groups"]["blue"]["fpr"] == 0.0 and enough["groups"]["blue"]["labelled"] == 4
    assert enough["demographic_parity_difference"] == pytest.approx(0.5 - 2 / 6)
    assert enough["tpr_gap"] == 0.0 and enough["reference_demographic_parity_difference"] is None

    few = fairness_drift(frame, p, y, 0.5, GROUPED, {}, min_labelled_rows=11)["colour"]
    assert few["tpr_gap"] is None and few["fpr_gap"] is None and few["groups"]["red"]["tpr"] is None
    assert few["demographic_parity_difference"] == enough["demographic_parity_difference"]
    assert few["groups"]["red"]["labelled"] == 6

    # Only the groups the audit gated count in the gaps; a lone gated group has none.
    reference = {"colour": {"red": {"selection_rate": 0.4, "tpr": 0.9, "fpr": 0.1, "gated": True},
                            "blue": {"selection_rate": 0.1, "tpr": 0.2, "fpr": 0.0, "gated": False}}}
    one = fairness_drift(frame, p, y, 0.5, GROUPED, reference, min_labelled_rows=10)["colour"]
    assert one["demographic_parity_difference"] is None and one["reference_demographic_parity_difference"] is None
    assert one["tpr_gap"] is None and one["groups"]["blue"]["reference_selection_rate"] == 0.1

    # A group without a positive label has no TPR, and leaves the TPR gap without two groups to compare.
    no_positive = fairness_drift(frame, p, np.where(frame["colour"] == "blue", 0.0, y), 0.5, GROUPED, {}, 10)["colour"]
    assert no_positive["groups"]["blue"]["tpr"] is None and no_positive["groups"]["blue"]["fpr"] == pytest.approx(2 / 6)
    assert no_positive["tpr_gap"] is None
