"""The three tasks: targets, strata, decoding, the decision fitted on validation, and each task's metrics."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, softmax
from sklearn.metrics import accuracy_score, f1_score, log_loss, mean_absolute_error, r2_score, roc_auc_score

from driftline.config import EvaluateParams
from driftline.core.decision import bounded_temperature, confidence, fit_decision, fit_temperature
from driftline.core.encoding import TargetScale
from driftline.core.metrics import HIGHER_IS_BETTER, multiclass_metrics, regression_metrics
from driftline.core.task import Task
from driftline.errors import DataError
from driftline.schema import Schema

EVALUATE = EvaluateParams(threshold_objective="accuracy", threshold_tolerance=0.005, calibration_bins=10,
                          interval_level=0.9, baseline={"max_iter": 10, "learning_rate": 0.1, "seed": 0})


def schema(task: str, target: dict, positive: str | None = None) -> Schema:
    return Schema.model_validate({"task": task, "target": "y", "positive_label": positive,
                                  "columns": {"x": {"type": "float"}, "y": target}})


MULTICLASS = schema("multiclass", {"type": "category", "categories": ["low", "mid", "high"]})
REGRESSION = schema("regression", {"type": "float", "min": 0})
BINARY = schema("binary", {"type": "category", "categories": ["no", "yes"]}, "yes")


@pytest.mark.parametrize(("task", "target", "positive", "message"), [
    ("regression", {"type": "category", "categories": ["a", "b"]}, None, "must be numeric"),
    ("binary", {"type": "category", "categories": ["a", "b", "c"]}, "a", "set task: multiclass"),
    ("multiclass", {"type": "category", "categories": ["a", "b"]}, None, "set task: binary"),
    ("multiclass", {"type": "integer"}, None, "set task: regression"),
    ("regression", {"type": "float"}, "1", "binary tasks only"),
])
def test_the_schema_refuses_a_target_that_does_not_fit_the_task(task, target, positive, message):
    with pytest.raises(ValueError, match=message):
        schema(task, target, positive)


@pytest.mark.parametrize(("task", "target"), [
    ("regression", {"type": "float", "min": 0}),  # not integers
    ("regression", {"type": "integer"}),  # no floor: negative counts allowed
    ("regression", {"type": "integer", "min": -1}),
    ("multiclass", {"type": "category", "categories": ["a", "b", "c"]}),
])
def test_a_count_is_a_regression_of_integers_from_0(task, target):
    with pytest.raises(ValueError, match="target_kind count needs a regression target of type integer with a min of "
                                         "0 or more"):
        Schema.model_validate({"task": task, "target": "y", "target_kind": "count",
                               "columns": {"x": {"type": "float"}, "y": target}})
    assert Schema.model_validate({"task": "regression", "target": "y", "target_kind": "count", "columns": {
        "x": {"type": "float"}, "y": {"type": "integer", "min": 0}}}).target_kind == "count"


def test_multiclass_targets_are_codes_in_declared_order_and_unknown_classes_are_refused():
    task = Task.of(MULTICLASS)
    assert task.targets(pd.DataFrame({"y": ["high", " low", "mid"]})).tolist() == [2, 0, 1]
    with pytest.raises(DataError, match="'top'"):
        task.targets(pd.DataFrame({"y": ["low", "top"]}))
    with pytest.raises(DataError, match="two classes at least"):
        task.require(np.array([1, 1, 1]), "validation")


def test_regression_targets_refuse_missing_values_and_a_constant_split():
    task = Task.of(REGRESSION)
    assert task.targets(pd.DataFrame({"y": ["1.5", 2]})).tolist() == [1.5, 2.0]
    with pytest.raises(DataError, match="missing in 1 row"):
        task.targets(pd.DataFrame({"y": [1.0, None]}))
    with pytest.raises(DataError, match="one value only"):
        task.require(np.array([3.0, 3.0]), "test")


def test_regression_strata_are_quantile_bins_with_rows_in_each():
    y = np.random.default_rng(0).lognormal(size=1000)
    strata = Task.of(REGRESSION).strata(y)
    counts = np.bincount(strata)
    assert len(counts) == 10 and counts.min() >= 90
    assert (np.diff([y[strata == b].max() for b in range(10)]) > 0).all()  # bins follow the target's order
    assert len(np.unique(Task.of(REGRESSION).strata(y[:30]))) == 3  # few rows: fewer bins


@pytest.mark.parametrize("link", ["identity", "log", "log1p"])
def test_a_squared_error_link_standardises_the_target_and_decodes_back(link):
    skewed = np.random.default_rng(0).lognormal(3, 1, 2000)
    scale = TargetScale.fit(skewed, link)
    z = scale.learned(skewed)
    assert abs(z.mean()) < 1e-9 and z.std() == pytest.approx(1)
    np.testing.assert_allclose(scale.decode(z), skewed)
    forward = {"identity": lambda y: y, "log": np.log, "log1p": np.log1p}[link]
    np.testing.assert_allclose(scale.linked(z), forward(skewed))  # unstandardised, through the link


def test_the_poisson_link_learns_the_count_and_answers_the_mean_at_zero():
    counts = np.random.default_rng(0).poisson(2.5, 2000).astype(float)
    scale = TargetScale.fit(counts, "poisson")
    assert scale.poisson and scale.std == 1
    np.testing.assert_array_equal(scale.learned(counts), counts)  # the Poisson loss reads the count itself
    assert scale.decode(np.zeros(1))[0] == pytest.approx(counts.mean())
    z = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_allclose(scale.linked(z), np.log(scale.decode(z)))
    lower, upper = scale.bounds(z, 0.5)
    assert (lower >= 0).all() and (lower < scale.decode(z)).all() and (scale.decode(z) < upper).all()
    # a zero count has a residual on the log(1 + count) scale
    assert scale.residual(np.array([0.0]), np.zeros(1))[0] == pytest.approx(np.log1p(counts.mean()))


@pytest.mark.parametrize(("saved", "link"), [({"log": True, "mean": 3.0, "std": 1.0}, "log"),
                                             ({"log": False, "mean": 3.0, "std": 1.0}, "identity")])
def test_a_target_scale_saved_before_links_loads_as_its_link(saved, link):
    scale = TargetScale.from_json(saved)
    assert scale.link == link and scale.validation == {}
    assert scale.decode(np.zeros(1))[0] == pytest.approx(np.exp(3.0) if link == "log" else 3.0)


def test_temperature_matches_scikit_learns_calibration_and_lowers_the_log_loss():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 3000)
    logits = 3 * (np.eye(3)[y] + rng.normal(0, 0.8, (3000, 3)))  # right but over-confident
    t = fit_temperature(logits, y)
    assert t > 1.5
    assert log_loss(y, softmax(logits / t, axis=1)) < log_loss(y, softmax(logits, axis=1))
    binary = rng.integers(0, 2, 3000)
    z = 4 * (binary - 0.5 + rng.normal(0, 0.6, 3000))
    tb = fit_temperature(z[:, None], binary)
    # the 1-D logit is halved into sklearn's (-d, d) form: the temperature applies to the logit itself
    best = min(np.linspace(0.5, 6, 1101), key=lambda c: log_loss(binary, expit(z / c)))
    assert tb == pytest.approx(best, abs=0.01)


def test_the_decision_keeps_the_temperature_only_where_it_lowers_the_validation_calibration_error():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 4000)
    overconfident = 4 * (np.eye(3)[y] + rng.normal(0, 0.9, (4000, 3)))
    decision = fit_decision(Task.of(MULTICLASS), overconfident, y, EVALUATE)
    errors = decision["calibration"]["val_calibration_error"]
    assert decision["calibration"]["applied"] and errors["scaled"] < errors["unscaled"]
    assert decision["temperature"] == decision["calibration"]["fitted_temperature"] > 1
    binary = fit_decision(Task.of(BINARY), overconfident[:, :1] - overconfident[:, 1:2], (y == 0).astype(int),
                          EVALUATE)
    assert 0 < binary["threshold"] < 1 and binary["objective"] == "accuracy"


def test_the_conformal_interval_covers_its_level_on_new_rows():
    rng = np.random.default_rng(2)
    y = rng.lognormal(2, 0.5, 6000)
    scale = TargetScale.fit(y[:2000], "log")
    raw = (scale.learned(y) + rng.normal(0, 0.4, 6000))[:, None]  # a model off by noise in scaled units
    task = Task.of(REGRESSION)
    decision = fit_decision(task, raw[:2000], y[:2000], EVALUATE, scale)
    answers = task.decode(raw[2000:], decision, scale)
    covered = ((y[2000:] >= answers["lower"]) & (y[2000:] <= answers["upper"])).mean()
    assert covered == pytest.approx(0.9, abs=0.02)
    assert (answers["lower"] < answers["prediction"]).all() and (answers["prediction"] < answers["upper"]).all()


def test_multiclass_metrics_agree_with_scikit_learn():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 800)
    p = softmax(2 * np.eye(4)[y] + rng.normal(0, 1.2, (800, 4)), axis=1)
    result = multiclass_metrics(y, p, 10)
    assert set(result) == set(HIGHER_IS_BETTER["multiclass"])
    assert result["accuracy"] == pytest.approx(accuracy_score(y, p.argmax(1)))
    assert result["macro_f1"] == pytest.approx(f1_score(y, p.argmax(1), average="macro"))
    assert result["log_loss"] == pytest.approx(log_loss(y, p))
    assert result["roc_auc"] == pytest.approx(roc_auc_score(y, p, multi_class="ovr"))
    assert result["brier"] == pytest.approx(((p - np.eye(4)[y]) ** 2).sum(axis=1).mean())
    top = p.max(axis=1)
    band = np.minimum((top * 10).astype(int), 9)
    hits = p.argmax(1) == y
    ece = sum((band == b).mean() * abs(hits[band == b].mean() - top[band == b].mean()) for b in np.unique(band))
    assert result["calibration_error"] == pytest.approx(ece, abs=1e-6)


def test_regression_metrics_agree_with_scikit_learn_and_mape_needs_a_positive_target():
    rng = np.random.default_rng(4)
    y = rng.lognormal(1, 0.5, 500)
    prediction = y + rng.normal(0, 0.3, 500)
    result = regression_metrics(y, prediction, prediction - 0.5, prediction + 0.5)
    assert result["mae"] == pytest.approx(mean_absolute_error(y, prediction))
    assert result["r2"] == pytest.approx(r2_score(y, prediction))
    assert result["rmse"] == pytest.approx(np.sqrt(((y - prediction) ** 2).mean()))
    assert result["mape"] == pytest.approx(np.mean(np.abs(y - prediction) / y))
    assert result["coverage"] == pytest.approx((np.abs(y - prediction) <= 0.5).mean())
    assert "mape" not in regression_metrics(y - 2, prediction)


def test_the_conformal_interval_of_a_count_covers_its_level_on_new_rows():
    rng = np.random.default_rng(3)
    mean = np.exp(rng.normal(0.5, 1.0, 6000))
    y = rng.poisson(mean).astype(float)
    scale = TargetScale.fit(y[:2000], "poisson")
    raw = (np.log(mean) - scale.mean)[:, None]  # the true mean: the count's own noise is what is left
    task = Task.of(REGRESSION)
    decision = fit_decision(task, raw[:2000], y[:2000], EVALUATE, scale)
    answers = task.decode(raw[2000:], decision, scale)
    covered = ((y[2000:] >= answers["lower"]) & (y[2000:] <= answers["upper"])).mean()
    assert 0.88 <= covered <= 0.95  # whole counts: at least the level, give or take the sample
    assert (answers["lower"] >= 0).all()


def test_sharpening_stops_where_the_validation_rows_accuracy_does():
    task = Task.of(MULTICLASS)
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 27)
    separable = 4 * np.eye(3)[y] + rng.normal(0, 0.3, (27, 3))  # every row right
    assert fit_temperature(separable, y) < 0.2  # the log loss's own optimum: near certainty
    decision = fit_decision(task, separable, y, EVALUATE)
    assert decision["calibration"]["log_loss_optimum"] < 0.2
    # 27 rows all right show an accuracy of 28/29 at most: the rows' mean confidence stops there
    fitted = decision["calibration"]["fitted_temperature"]
    assert confidence(task, separable, fitted)[0].mean() == pytest.approx(28 / 29)
    overconfident = 3 * separable  # above 28/29 at T = 1 already: no sharpening at all
    assert bounded_temperature(task, overconfident, y, fit_temperature(overconfident, y)) == 1.0
    # Under-confident on many rows: the fitted sharpening stands, and its rows' mean confidence is what they show.
    y = rng.integers(0, 3, 5000)
    shy = 0.5 * (np.eye(3)[y] * 3 + rng.normal(0, 1.0, (5000, 3)))
    fitted = fit_temperature(shy, y)
    assert fitted < 0.8 and bounded_temperature(task, shy, y, fitted) == fitted
    top, predicted = confidence(task, shy, fitted)
    assert top.mean() == pytest.approx((predicted == y).mean(), abs=0.02)
    # Where the optimum sharpens past the smoothed accuracy, the bound is that accuracy.
    right = rng.integers(0, 3, 60)
    logits = 2 * np.eye(3)[right] + rng.normal(0, 0.4, (60, 3))
    bound = bounded_temperature(task, logits, right, 0.05)
    assert 0.05 < bound <= 1 and confidence(task, logits, bound)[0].mean() == pytest.approx(61 / 62, abs=1e-6)
