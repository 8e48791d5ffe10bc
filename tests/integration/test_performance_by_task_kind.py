"""Monitoring performance for every task, with small trained models (tests/helpers/task_models.py): the realised figures
are core.metrics' (and Evidently's report agrees), and the estimates (CBPE, DLE) track what is realised on fresh
rows of the same distribution, as a whole and on sub-populations where the model does better or worse."""

import numpy as np
import pandas as pd
import pytest

from driftline.core.estimators import estimation_reference, fit_class_calibrations
from driftline.core.metrics import task_metrics
from driftline.core.task import Task
from driftline.monitoring.performance import CBPE, DLE, calibrate_classes, cbpe_multiclass, performance, realised
from tests.helpers import tiny_models
from tests.helpers.task_models import task_model

KINDS = ("binary", "multiclass", "regression")
BINS = 10
# Evidently's figure (its metric's type) for each of ours
EVIDENTLY = {"binary": {"roc_auc": "RocAuc", "accuracy": "Accuracy", "f1": "F1Score"},
             "multiclass": {"accuracy": "Accuracy", "macro_f1": "F1Score", "roc_auc": "RocAuc", "log_loss": "LogLoss"},
             "regression": {"rmse": "RMSE", "mae": "MAE", "r2": "R2Score"}}
# How far an estimate may be from what is realised on 3,000 fresh rows (the calibration saw 1,200)
TOLERANCE = {"roc_auc": 0.04, "accuracy": 0.04, "f1": 0.06, "macro_f1": 0.03, "log_loss": 0.06}
RELATIVE = {"mae": 0.05, "rmse": 0.12}


class Window:
    """KIND's trained model on 3,000 fresh rows of its table (another seed): answers, targets, typed features."""

    def __init__(self, kind: str, seed: int = 1):
        self.model = task_model(kind)
        self.predictor = predictor = self.model.predictor
        self.task = predictor.task
        self.frame = tiny_models.table(kind, 3000, seed)
        self.rows = self.frame[predictor.schema.features]
        self.answers = predictor.predict_columns({name: self.rows[name].to_numpy() for name in self.rows})
        self.y = self.task.targets(self.frame)
        self.threshold = predictor.decision.get("threshold")

    def estimator(self) -> CBPE | DLE:
        val = self.model.split("val")
        if self.task.kind == "regression":
            return DLE(self.predictor, val)
        scored = self.predictor.predict_columns({name: val[name].to_numpy() for name in self.predictor.schema.features})
        reference = estimation_reference(self.task, scored, self.task.targets(val))
        return CBPE(self.task.kind, reference["calibration"], self.threshold)

    def performance(self, rows: np.ndarray, estimator: CBPE | DLE) -> dict:
        answers = {name: values[rows] for name, values in self.answers.items()}
        summary, _ = performance(self.task, answers, self.rows[rows], self.y[rows].astype(np.float64), estimator, {},
                                 50, BINS, self.threshold)
        return summary


@pytest.fixture(scope="module", params=KINDS)
def window(request) -> Window:
    return Window(request.param)


def close(estimated: float, actual: float, metric: str) -> bool:
    if metric in RELATIVE:
        return abs(estimated - actual) <= RELATIVE[metric] * actual
    return abs(estimated - actual) <= TOLERANCE[metric]


def test_realised_figures_are_core_metrics_and_evidentlys_report_agrees(window, tmp_path):
    metrics, snapshot = realised(window.task, window.y, window.answers, BINS, window.threshold)
    assert metrics == task_metrics(window.task.kind, window.y, window.answers, BINS, window.threshold)
    if window.task.kind == "regression":
        assert 0.8 < metrics["coverage"] < 0.97  # the served 90% interval, on fresh rows
    evidently = {m["config"]["type"].split(":")[-1]: m["value"] for m in snapshot.dict()["metrics"]}
    for ours, theirs in EVIDENTLY[window.task.kind].items():
        value = evidently[theirs]["mean"] if theirs == "MAE" else evidently[theirs]
        assert value == pytest.approx(metrics[ours], rel=1e-6), ours
    snapshot.save_html(str(tmp_path / "performance.html"))
    assert (tmp_path / "performance.html").stat().st_size > 1000


def test_estimates_track_what_is_realised_on_fresh_rows(window):
    summary = window.performance(np.ones(len(window.y), dtype=bool), window.estimator())
    estimated, actual = summary["estimated_on_labelled"], summary["realised"]
    assert summary["method"] == ("DLE" if window.task.kind == "regression" else "CBPE")
    compared = [m for m in estimated if m in actual]
    assert len(compared) == {"binary": 3, "multiclass": 4, "regression": 2}[window.task.kind]
    for metric in compared:
        assert close(estimated[metric], actual[metric], metric), (metric, estimated[metric], actual[metric])


def test_estimates_follow_the_rows_the_model_gets_right_or_wrong(window):
    """Halves of the window where the model does better and worse: an estimator that returned the reference's
    figure for any batch would miss both."""
    kind, answers = window.task.kind, window.answers
    if kind == "regression":  # the target is skewed: errors grow with the prediction
        metric, key = "mae", answers["prediction"]
    elif kind == "multiclass":
        metric, key = "accuracy", answers["probability"]
    else:  # the confident answers, far from 0.5 either way
        metric, key = "accuracy", np.abs(answers["probability"] - 0.5)
    upper = key > np.median(key)
    estimator = window.estimator()
    halves = [window.performance(rows, estimator) for rows in (upper, ~upper)]
    estimated = [half["estimated_on_labelled"][metric] for half in halves]
    actual = [half["realised"][metric] for half in halves]
    assert (estimated[0] > estimated[1]) == (actual[0] > actual[1])
    limit = 0.08 * max(actual) if metric == "mae" else 0.07
    assert abs(estimated[0] - actual[0]) <= limit and abs(estimated[1] - actual[1]) <= limit, (estimated, actual)
    assert abs(actual[0] - actual[1]) > 2 * limit  # the halves differ by more than the estimate may miss by


def test_the_nanny_models_refit_to_the_same_estimates():
    window = Window("regression")
    first, second = window.estimator(), window.estimator()
    assert first.estimate(window.answers, window.rows) == second.estimate(window.answers, window.rows)


def test_multiclass_calibration_is_one_vs_rest_and_normalised():
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(3), 3000)
    y = np.array([rng.choice(3, p=p) for p in probabilities])  # calibrated by construction
    calibrations = fit_class_calibrations(probabilities, y)
    assert len(calibrations) == 3
    c = calibrate_classes(calibrations, probabilities)
    np.testing.assert_allclose(c.sum(axis=1), 1.0)
    assert np.abs(c - probabilities).mean() < 0.05
    zero = [{"x": [0.0, 1.0], "y": [0.0, 0.0]}] * 3  # every class calibrates to 0: uniform, as NannyML
    np.testing.assert_allclose(calibrate_classes(zero, probabilities[:2]), 1 / 3)
    fresh = rng.dirichlet(np.ones(3), 5000)
    y_fresh = np.array([rng.choice(3, p=p) for p in fresh])
    expected = cbpe_multiclass(calibrations, fresh)
    actual = task_metrics("multiclass", y_fresh, {"probabilities": fresh}, BINS)
    for metric in ("accuracy", "macro_f1", "roc_auc", "log_loss"):
        assert expected[metric] == pytest.approx(actual[metric], abs=0.02), metric


def test_a_window_without_a_label_of_every_class_is_still_reported():
    """Evidently's multiclass preset raises KeyError when a class has no label: the report then takes the labels."""
    window = Window("multiclass")
    known = window.y != 3  # no platinum label
    answers = {name: values[known] for name, values in window.answers.items()}
    metrics, snapshot = realised(window.task, window.y[known], answers, BINS)
    assert metrics == task_metrics("multiclass", window.y[known], answers, BINS)
    evidently = {m["config"]["type"].split(":")[-1]: m["value"] for m in snapshot.dict()["metrics"]}
    assert evidently["Accuracy"] == pytest.approx(metrics["accuracy"]) and "RocAuc" not in evidently


@pytest.mark.parametrize(("kind", "labels", "expected"), [
    ("binary", ["yes", "no", None, "", "maybe", " yes"], [1, 0, np.nan, np.nan, np.nan, 1]),
    ("multiclass", ["gold", "bronze", None, "tin", "platinum", "silver"], [2, 0, np.nan, np.nan, 3, 1]),
    ("regression", ["12.5", "3", None, "", "?", "-1e2"], [12.5, 3, np.nan, np.nan, np.nan, -100]),
])
def test_late_labels_become_targets_and_nan_where_none_arrived(kind, labels, expected):
    task = Task.of(tiny_models.schema(kind))
    frame = pd.DataFrame({task.schema.target: labels})
    np.testing.assert_array_equal(task.late_targets(frame, ["?", ""]), np.array(expected, dtype=np.float64))
    assert np.isnan(task.late_targets(frame.drop(columns=[task.schema.target]))).all()


@pytest.mark.parametrize("kind", KINDS)
def test_answers_come_back_from_the_scored_columns(kind):
    predictor = task_model(kind).predictor
    rows = tiny_models.table(kind, 50, seed=2)
    answers = predictor.predict_columns({name: rows[name].to_numpy() for name in predictor.schema.features})
    back = predictor.task.answers(predictor.predict(rows))
    assert back.keys() == answers.keys()
    for name, values in answers.items():
        np.testing.assert_array_equal(back[name], values)


@pytest.mark.parametrize(("kind", "labels"), [("multiclass", [2] * 60), ("regression", [7.0] * 60)])
def test_labels_the_task_cannot_score_leave_only_the_estimate(kind, labels):
    window = Window(kind)
    y = np.full(len(window.y), np.nan)
    y[:60] = labels  # one class, or one value
    summary, snapshot = performance(window.task, window.answers, window.rows, y, window.estimator(), {}, 50, BINS)
    assert summary["realised"] is None and snapshot is None and summary["estimated_on_labelled"] is None
    assert summary["labelled_rows"] == 60 and summary["estimated"] is not None
