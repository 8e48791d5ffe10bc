"""The drift decision: Evidently's own per-column tests, whichever way the method's score points, over the
features and each task's answers."""

import numpy as np
import pandas as pd
import pytest

from driftline.config import MonitorParams
from driftline.core.task import Task
from driftline.errors import MonitorError
from driftline.monitoring.drift import PREDICTION, drift_report, prediction_columns, prediction_frame, summarise
from driftline.schema import Schema
from tests.helpers import tiny_models

SCHEMA = Schema.model_validate({
    "target": "y",
    "task": "binary", "positive_label": "1",
    "columns": {
        "colour": {"type": "category", "categories": ["red", "blue", "green"]},
        "size": {"type": "float"},
        "y": {"type": "category", "categories": ["0", "1"]},
    },
})
COLUMNS = SCHEMA.features + [PREDICTION]
PREDICTIONS = ([PREDICTION], [])  # binary: the probability, numeric


def frames(shift: float):
    rng = np.random.default_rng(0)

    def frame(n, offset):
        return pd.DataFrame({
            "colour": rng.choice(["red", "blue", "green"], n),
            "size": rng.normal(offset, 1, n),
            PREDICTION: rng.uniform(0, 1, n),
        })

    return frame(2000, 0.0), frame(1000, shift)


def drifts(reference: pd.DataFrame, current: pd.DataFrame, settings: MonitorParams) -> dict:
    return summarise(drift_report(reference, current, SCHEMA, settings, PREDICTIONS).dict(), COLUMNS, [PREDICTION],
                     settings)


def params(**changes) -> MonitorParams:
    base = dict(reports_dir="r", reference_rows=2000, num_method="wasserstein", cat_method="jensenshannon",
                threshold=0.1, drift_share=0.3, explain_rows=50, min_labelled_rows=50, seed=0,
                policy={"dataset_drift": True})
    return MonitorParams(**(base | changes))


@pytest.mark.parametrize(("method", "threshold"), [("wasserstein", 0.1), ("ks", 0.05)])
def test_a_shift_drifts_whether_the_score_is_a_distance_or_a_p_value(method, threshold):
    settings = params(num_method=method, threshold=threshold)
    reference, current = frames(shift=1.0)
    summary = drifts(reference, current, settings)
    assert summary["drifted_columns"] == ["size"]
    assert summary["dataset_drift"] is True  # one of three columns is above the 0.3 share
    # a p-value near 0 drifts, a distance near 0 would not: the direction comes from Evidently
    assert (summary["scores"]["size"] < threshold) == (method == "ks")


@pytest.mark.parametrize("method", ["wasserstein", "ks"])
def test_an_unshifted_batch_does_not_drift(method):
    settings = params(num_method=method, threshold=0.05 if method == "ks" else 0.1)
    reference, current = frames(shift=0.0)
    summary = drifts(reference, current, settings)
    assert "size" not in summary["drifted_columns"]


def test_a_report_without_the_expected_results_raises():
    settings = params()
    reference, current = frames(shift=1.0)
    report = drift_report(reference, current, SCHEMA, settings, PREDICTIONS).dict()
    renamed = {"metrics": [m for m in report["metrics"] if m["config"].get("column") != "size"], "tests": []}
    with pytest.raises(MonitorError, match="no drift score for 'size'.*no drifted-share result"):
        summarise(renamed, COLUMNS, [PREDICTION], settings)


def test_unknown_drift_methods_fail_at_load_time():
    with pytest.raises(ValueError, match="num_method"):
        params(num_method="chisquare")  # a categorical test
    with pytest.raises(ValueError, match="cat_method"):
        params(cat_method="wasserstein")


@pytest.mark.parametrize(("kind", "numeric", "categorical"), [
    ("binary", [PREDICTION], []),
    ("multiclass", [f"probability_{c}" for c in ("bronze", "silver", "gold", "platinum")], [PREDICTION]),
    ("regression", [PREDICTION], []),
])
def test_each_task_watches_its_answers(kind, numeric, categorical):
    task = Task.of(tiny_models.schema(kind))
    assert prediction_columns(task) == (numeric, categorical)
    outputs = pd.DataFrame({name: np.arange(3) for name in task.output_columns}, index=[7, 8, 9])
    watched = prediction_frame(task, outputs)
    assert list(watched) == [*categorical, *numeric] and list(watched.index) == [7, 8, 9]
    source = {"binary": "probability", "multiclass": "label", "regression": "prediction"}[kind]
    assert watched[PREDICTION].tolist() == outputs[source].tolist()


def test_a_shifted_multiclass_decision_drifts_as_a_category():
    """The decided label is compared as a category (Jensen-Shannon here), each class's probability as a number."""
    task = Task.of(tiny_models.schema("multiclass"))
    rng = np.random.default_rng(1)
    features = ["region"]
    schema = Schema(task="multiclass", target="segment", columns={"region": tiny_models.FEATURES["region"],
                                                                  "segment": tiny_models.TARGETS["multiclass"][1]})

    def window(n: int, p: list[float]) -> pd.DataFrame:
        probabilities = rng.dirichlet(np.ones(4), n)
        outputs = pd.DataFrame({"label": rng.choice(task.classes, n, p=p), "probability": probabilities.max(axis=1)}
                               | dict(zip(task.probability_columns, probabilities.T)))
        return pd.DataFrame({"region": rng.choice(["north", "south"], n)}).join(prediction_frame(task, outputs))

    settings = params(drift_share=0.5)
    numeric, categorical = prediction_columns(task)
    reference, current = window(2000, [0.4, 0.3, 0.2, 0.1]), window(1000, [0.1, 0.2, 0.3, 0.4])
    report = drift_report(reference, current, schema, settings, (numeric, categorical)).dict()
    summary = summarise(report, features + numeric + categorical, numeric + categorical, settings)
    assert summary["drifted_columns"] == [PREDICTION] and summary["prediction_drift"] is True
    assert set(summary["scores"]) == {"region", PREDICTION, *numeric}
