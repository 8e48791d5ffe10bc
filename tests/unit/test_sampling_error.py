"""The estimate's uncertainty, as NannyML measures it: the sampling error of each estimated metric agrees with a
bootstrap, the thresholds are the mean ∓ 3 standard deviations of the metric over reference chunks, and both
reach the window's summary (or stay out of it for a model packaged before they were stored)."""

import json

import numpy as np
import pytest
from sklearn.metrics import f1_score, log_loss, roc_auc_score

from driftline.core.spread import CHUNKS, ESTIMATED, chunk_thresholds, estimated_metrics, sampling_sd, spread_reference
from driftline.core.task import Task
from driftline.monitoring.performance import CBPE, estimator, performance
from driftline.monitoring.uncertainty import SPREAD, window_spread
from driftline.schema import Schema
from tests.helpers import tiny_models

BINARY = Task.of(Schema.model_validate({
    "task": "binary", "target": "y", "positive_label": "1",
    "columns": {"x": {"type": "float"}, "y": {"type": "category", "categories": ["0", "1"]}},
}))
SAMPLE, DRAWS = 400, 250  # bootstrap samples of a window's size; the spread of 250 of them is within about 5%
IDENTITY = {"x": [0.0, 1.0], "y": [0.0, 1.0]}


def binary_population(n: int, seed: int, prevalence: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """A noisy score of a logistic target with about PREVALENCE positives."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n) * 2 + np.log(prevalence / (1 - prevalence))
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(np.int64)
    return 1 / (1 + np.exp(-(z + rng.normal(scale=0.7, size=n)))), y


def bootstrap_sd(population: int, statistic, seed: int = 7) -> float:
    """The spread of STATISTIC(rows) over DRAWS samples of SAMPLE rows drawn from POPULATION with replacement."""
    rng = np.random.default_rng(seed)
    return float(np.std([statistic(rng.integers(0, population, SAMPLE)) for _ in range(DRAWS)]))


def test_binary_sampling_errors_match_a_bootstrap():
    p, y = binary_population(20_000, 0)
    sd = sampling_sd("binary", y, {"probability": p}, 0.5)
    assert set(sd) == set(ESTIMATED["binary"])
    decided = p >= 0.5
    statistics = {
        "roc_auc": lambda rows: roc_auc_score(y[rows], p[rows]),
        "accuracy": lambda rows: (y[rows] == decided[rows]).mean(),
        "f1": lambda rows: f1_score(y[rows], decided[rows]),
        "precision": lambda rows: y[rows][decided[rows]].mean(),
        "recall": lambda rows: decided[rows][y[rows] == 1].mean(),
    }
    for metric, statistic in statistics.items():
        assert sd[metric] / np.sqrt(SAMPLE) == pytest.approx(bootstrap_sd(len(y), statistic), rel=0.15), metric


def test_the_auc_error_counts_both_classes_where_nannymls_minority_term_falls_short():
    p, y = binary_population(20_000, 1, prevalence=0.5)
    placements = np.array([(p[y == 0] < s).mean() for s in p[y == 1][:2000]])  # the positives' alone
    minority_only = placements.std() / np.sqrt(0.5)
    assert sampling_sd("binary", y, {"probability": p}, 0.5)["roc_auc"] > 1.3 * minority_only


def test_multiclass_sampling_errors_match_a_bootstrap():
    rng = np.random.default_rng(2)
    probabilities = rng.dirichlet(np.full(4, 0.7), 8000)
    y = (probabilities.cumsum(axis=1) < rng.uniform(size=(8000, 1))).sum(axis=1)  # each row drawn from its p
    sd = sampling_sd("multiclass", y, {"probabilities": probabilities})
    assert set(sd) == set(ESTIMATED["multiclass"])
    decided = probabilities.argmax(axis=1)
    statistics = {
        "accuracy": lambda rows: (y[rows] == decided[rows]).mean(),
        "macro_f1": lambda rows: f1_score(y[rows], decided[rows], average="macro"),
        "roc_auc": lambda rows: roc_auc_score(y[rows], probabilities[rows], multi_class="ovr"),
        "log_loss": lambda rows: log_loss(y[rows], probabilities[rows], labels=range(4)),
    }
    for metric, statistic in statistics.items():
        assert sd[metric] / np.sqrt(SAMPLE) == pytest.approx(bootstrap_sd(len(y), statistic), rel=0.15), metric


def test_regression_sampling_errors_match_a_bootstrap():
    rng = np.random.default_rng(3)
    prediction = rng.normal(size=20_000)
    y = prediction + rng.standard_t(5, size=20_000)
    sd = sampling_sd("regression", y, {"prediction": prediction})
    error = y - prediction
    assert sd["mae"] / np.sqrt(SAMPLE) == pytest.approx(
        bootstrap_sd(len(y), lambda rows: np.abs(error[rows]).mean()), rel=0.15)
    assert sd["rmse"] / np.sqrt(SAMPLE) == pytest.approx(
        bootstrap_sd(len(y), lambda rows: np.sqrt((error[rows] ** 2).mean())), rel=0.15)


def test_one_class_leaves_out_what_it_cannot_measure():
    sd = sampling_sd("binary", np.ones(50, dtype=np.int64), {"probability": np.linspace(0, 1, 50)}, 0.5)
    assert "roc_auc" not in sd and sd["precision"] == 0.0 and sd["recall"] == pytest.approx(0.5)  # all hits


def test_thresholds_are_the_mean_and_three_deviations_of_the_chunks():
    p, y = binary_population(2000, 4)
    answers = {"probability": p}
    chunks = chunk_thresholds(BINARY, y, answers, 10, 0.5)
    values = [estimated_metrics(BINARY, y[rows], {"probability": p[rows]}, 10, 0.5)
              for rows in np.array_split(np.arange(2000), CHUNKS)]
    assert (chunks["chunks"], chunks["chunk_rows"]) == (CHUNKS, 200)
    for metric in ESTIMATED["binary"]:
        found = [v[metric] for v in values]
        assert chunks["metrics"][metric] == pytest.approx({"mean": np.mean(found), "std": np.std(found)})
    assert values[0]["roc_auc"] == pytest.approx(roc_auc_score(y[:200], p[:200]))

    spread = spread_reference(BINARY, answers, y, 10, 0.5)
    assert spread["thresholds"] == chunks and json.loads(json.dumps(spread)) == spread
    auc = chunks["metrics"]["roc_auc"]
    same_size = window_spread(spread, None, 0, 200)["thresholds"]["roc_auc"]
    assert same_size == pytest.approx({"lower": auc["mean"] - SPREAD * auc["std"],
                                       "upper": min(1.0, auc["mean"] + SPREAD * auc["std"])})
    four_times = window_spread(spread, None, 0, 800)["thresholds"]["roc_auc"]  # the spread halves
    assert four_times["upper"] - four_times["lower"] == pytest.approx(SPREAD * auc["std"])


def test_thresholds_are_clipped_to_the_metrics_range():
    spread = {"thresholds": {"chunk_rows": 100, "metrics": {"accuracy": {"mean": 0.98, "std": 0.02},
                                                            "log_loss": {"mean": 0.05, "std": 0.05}}}}
    bounds = window_spread(spread, None, 0, 100)["thresholds"]
    assert bounds["accuracy"] == pytest.approx({"lower": 0.92, "upper": 1.0})
    assert bounds["log_loss"] == pytest.approx({"lower": 0.0, "upper": 0.2})


def test_the_summary_gets_the_estimates_error_and_the_windows_thresholds():
    p, y = binary_population(1000, 5)
    spread = spread_reference(BINARY, {"probability": p}, y, 10, 0.5)
    partial = np.where(np.arange(1000) < 300, y, np.nan)
    summary, _ = performance(BINARY, {"probability": p}, None, partial, CBPE("binary", IDENTITY, 0.5, spread), {},
                             50, 10, 0.5)
    sd = spread["sampling_error"]["sd"]
    assert summary["sampling_error"] == pytest.approx({m: sd[m] / np.sqrt(700) for m in summary["estimated"]})
    assert summary["thresholds"] == window_spread(spread, None, 0, 1000)["thresholds"]
    assert set(summary["thresholds"]) == set(ESTIMATED["binary"])

    labelled, _ = performance(BINARY, {"probability": p}, None, y.astype(float),
                              CBPE("binary", IDENTITY, 0.5, spread), {}, 50, 10, 0.5)
    assert "sampling_error" not in labelled and "thresholds" in labelled  # no estimate: no error to give
    old, _ = performance(BINARY, {"probability": p}, None, partial, CBPE("binary", IDENTITY, 0.5), {}, 50, 10, 0.5)
    assert "sampling_error" not in old and "thresholds" not in old


class Multiclass:
    """Enough of a Predictor for estimator(): a multiclass task and no threshold."""

    task = Task.of(tiny_models.schema("multiclass"))
    threshold = None


def test_the_estimator_carries_the_spread_of_reference_json_and_old_models_keep_working(tmp_path):
    spread = {"sampling_error": {"rows": 10, "sd": {"accuracy": 0.4}}, "thresholds": {"chunks": 10}}
    reference = {"calibration": [IDENTITY] * 4, "metrics": {}}
    assert estimator(Multiclass(), tmp_path, reference | spread).spread == spread
    assert estimator(Multiclass(), tmp_path, reference).spread == {}
