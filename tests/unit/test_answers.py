"""Each task's answers on the wire and back to Predictor.predict's columns, and the load-and-query check's
comparison of served answers with offline ones."""

import numpy as np
import pandas as pd
import pytest

from driftline.core.task import Task
from driftline.release.infra import out_of_range, unlike
from driftline.serving.answers import answer_columns, answer_records
from driftline.serving.log import logged
from tests.helpers import tiny_models

ANSWERS = {
    "binary": {"probability": np.array([0.2, 0.7]), "label": np.array(["no", "yes"], dtype=object)},
    "multiclass": {"label": np.array(["gold", "bronze"], dtype=object), "probability": np.array([0.4, 0.7]),
                   "probabilities": np.array([[0.1, 0.2, 0.4, 0.3], [0.7, 0.1, 0.1, 0.1]])},
    "regression": {"prediction": np.array([12.0, 30.5]), "lower": np.array([9.0, 25.0]),
                   "upper": np.array([15.5, 37.0])},
}
WIRE = {
    "binary": [{"probability": 0.2, "label": "no"}, {"probability": 0.7, "label": "yes"}],
    "multiclass": [{"label": "gold", "probabilities": {"bronze": 0.1, "silver": 0.2, "gold": 0.4, "platinum": 0.3}},
                   {"label": "bronze", "probabilities": {"bronze": 0.7, "silver": 0.1, "gold": 0.1, "platinum": 0.1}}],
    "regression": [{"prediction": 12.0, "interval": [9.0, 15.5]}, {"prediction": 30.5, "interval": [25.0, 37.0]}],
}
LOGGED = {  # the first record's row in the inference log
    "binary": {"probability": 0.2, "label": "no", "prediction": None, "outputs": None},
    "multiclass": {"probability": None, "label": "gold", "prediction": None,
                   "outputs": {"probabilities": WIRE["multiclass"][0]["probabilities"]}},
    "regression": {"probability": None, "label": None, "prediction": 12.0, "outputs": {"interval": [9.0, 15.5]}},
}


@pytest.mark.parametrize("kind", sorted(ANSWERS))
def test_answers_go_on_the_wire_and_come_back_as_predicts_columns(kind):
    task = Task.of(tiny_models.schema(kind))
    records = answer_records(task, ANSWERS[kind])
    assert records == WIRE[kind]
    assert logged(records[0]) == LOGGED[kind]
    columns = answer_columns(task, records)
    assert list(columns) == task.output_columns
    expected = task.frame(ANSWERS[kind])
    for name in columns:
        assert list(columns[name]) == list(expected[name])


def test_a_record_of_another_task_reads_back_as_missing_values():
    task = Task.of(tiny_models.schema("multiclass"))
    columns = answer_columns(task, [{"probability": 0.3, "label": "yes"}])  # a binary model's, in the same log
    assert columns["label"] == ["yes"] and columns["probability"] == [None]
    assert all(columns[name] == [None] for name in task.probability_columns)


def test_served_answers_unlike_the_offline_ones_are_counted_per_row():
    expected = pd.DataFrame({"label": ["gold", "bronze", "gold"], "probability": [0.4, 0.7, 0.5]})
    served = pd.DataFrame({"label": ["gold", "silver", "gold"], "probability": [0.4 + 1e-9, 0.7, 0.5 + 1e-4]})
    assert unlike(served, expected).tolist() == [False, True, True]
    # a regression's numbers are compared relative to their size too: the target's units may be large
    big = pd.DataFrame({"prediction": [2e6, 2e6]})
    assert unlike(big + np.array([[1e-3], [10.0]]), big).tolist() == [False, True]


def test_answers_out_of_range_are_counted_per_row():
    regression = Task.of(tiny_models.schema("regression"))
    served = pd.DataFrame({"prediction": [1.0, 5.0, 2.0], "lower": [0.5, 1.0, np.nan], "upper": [2.0, 4.0, 3.0]})
    assert out_of_range(served, regression).tolist() == [False, True, True]
    binary = Task.of(tiny_models.schema("binary"))
    served = pd.DataFrame({"probability": [0.5, 1.2], "label": ["yes", "yes"]})
    assert out_of_range(served, binary).tolist() == [False, True]
