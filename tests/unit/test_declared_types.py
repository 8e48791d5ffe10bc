"""Declared types win: columns declared `category` stay categories whatever their values look like
(0/1 labels, True/False flags, zip codes with leading zeros, numeric codes), on every path."""

import importlib
import io
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from driftline.core.contract import check, failures
from driftline.core.data import category_text, coerce, coerce_column, read_csv
from driftline.core.encoding import Transform
from driftline.core.task import Task
from driftline.errors import DataError
from driftline.schema import Schema
from driftline.stages.audit import _plots, fairness, plot_colours
from driftline.stages.evaluate import early_stopping, fit_baseline
from driftline.stages.train.batches import MIN_BATCHES, batch_size
from tests.helpers.declared_types import SCHEMA, pandas_typed, small_params, write_splits

NA = ["?", ""]
CSV = ("plan,zip,member,spend,visits,churned\n"
       "1,02139,True,10.5,3,1\n"
       "2,10001,False,0,0,0\n"
       "3,94105,True,?,7,0\n"
       "1,02139 ,False,99,1,1\n")
# Only categories, and a flag declared in lower case: no numeric column for the plots to colour.
CATEGORIES_ONLY = Schema.model_validate({
    "target": "y",
    "task": "binary", "positive_label": "yes",
    "columns": {
        "flag": {"type": "category", "categories": ["true", "false"]},
        "code": {"type": "category", "categories": ["0", "1"]},
        "y": {"type": "category", "categories": ["no", "yes"]},
    },
})


@pytest.fixture
def rows() -> pd.DataFrame:
    return read_csv(io.BytesIO(CSV.encode()), SCHEMA, NA)


def test_read_csv_keeps_declared_categories_as_their_text(rows):
    assert rows["plan"].tolist() == ["1", "2", "3", "1"]
    assert rows["zip"].tolist() == ["02139", "10001", "94105", "02139"]  # leading zero kept, space stripped
    assert rows["member"].tolist() == ["True", "False", "True", "False"]
    assert rows["churned"].tolist() == ["1", "0", "0", "1"]
    assert rows["spend"].dtype == np.float64 and np.isnan(rows["spend"][2])
    assert rows["visits"].tolist() == [3, 0, 7, 1]
    assert Task.of(SCHEMA).targets(rows).tolist() == [1, 0, 0, 1]


def test_read_csv_strips_names_and_a_byte_order_mark_and_leaves_bad_numbers_as_text():
    text = "\ufeffplan , zip,member,spend,visits,churned\n01,02139,True,ten,3,1\n"
    frame = read_csv(io.BytesIO(text.encode()), SCHEMA, NA)
    assert list(frame.columns) == list(SCHEMA.columns)
    assert frame["plan"].tolist() == ["01"]  # text as written: "01" is not the code "1"
    assert frame["spend"].tolist() == ["ten"]  # for the contract to name


@pytest.mark.parametrize(("value", "text"), [
    ("02139", "02139"), (" a ", "a"), ("1.0", "1.0"), (1, "1"), (np.int64(1), "1"), (1.0, "1"),
    (np.float32(2.5), "2.5"), (True, "True"), (np.False_, "False"), (None, None), (np.nan, None), (pd.NA, None),
])
def test_the_canonical_text_of_a_value(value, text):
    assert category_text(value) == text


def test_coerce_gives_pandas_typed_categories_their_declared_text():
    member = coerce_column("member", [True, False, None], SCHEMA.columns["member"])
    assert member.tolist()[:2] == ["True", "False"] and pd.isna(member[2])
    lower = coerce_column("flag", [True, np.False_, "?"], CATEGORIES_ONLY.columns["flag"], NA)
    assert lower.tolist()[:2] == ["true", "false"] and pd.isna(lower[2])  # booleans spelled as declared
    typed = coerce(pandas_typed(4), SCHEMA)
    assert typed["plan"].map(type).eq(str).all() and set(typed["churned"]) == {"0", "1"}
    assert typed["visits"].dtype == np.float64


def test_labels_of_a_numeric_looking_target():
    assert Task.of(SCHEMA).targets(pd.DataFrame({"churned": [0, 1, 1.0, "1"]})).tolist() == [0, 1, 1, 1]
    with pytest.raises(DataError, match="target 'churned' has 1 value"):
        Task.of(SCHEMA).targets(pd.DataFrame({"churned": [0, 2]}))


def test_the_contract_checks_declared_text(rows, params):
    assert failures(check(rows, SCHEMA, params.validation)) == []
    assert failures(check(pandas_typed(), SCHEMA, params.validation)) == []  # ints and bools as declared
    bad = rows.assign(plan=["1", "4", "2", "3"], zip=["02139", "2139", "10001", "94105"])
    problems = failures(check(bad, SCHEMA, params.validation))
    assert any("in_set on plan" in p and "'4'" in p for p in problems), problems
    assert any("in_set on zip" in p and "'2139'" in p for p in problems), problems


def test_the_transform_encodes_them_as_categories(rows, params):
    transform = Transform.fit(pandas_typed(), SCHEMA, params.featurize)
    assert set(transform.categorical) == {"plan", "zip", "member"} and set(transform.numeric) == {"spend", "visits"}
    assert transform.categorical["plan"].vocabulary == ["1", "2", "3"]
    assert transform.categorical["member"].vocabulary == ["False", "True"]
    as_text, as_numbers = coerce(rows, SCHEMA), rows.assign(plan=[1, 2, 3, 1], member=[True, False, True, False])
    np.testing.assert_array_equal(transform(as_text), transform(as_numbers))
    start, end = transform.slices["plan"]
    assert transform(as_text)[:, start:end].argmax(axis=1).tolist() == [0, 1, 2, 0]


@pytest.fixture(scope="module")
def record_model():
    """The service's record_model, from a model store entry that holds only the schema (tests/conftest.py
    points BENTOML_HOME at a throwaway folder)."""
    import bentoml

    with bentoml.models.create("driftline-declared-types") as model:
        Path(model.path_of("schema.json")).write_text(SCHEMA.model_dump_json())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DRIFTLINE_MODEL_TAG", str(model.tag))
        from driftline.serving import service

        yield importlib.reload(service).record_model


def test_the_request_model_takes_a_category_as_text_number_or_boolean(record_model):
    Record = record_model(SCHEMA)
    good = {"plan": "1", "zip": "02139", "member": "True", "spend": 1.5, "visits": 2}
    for plan in (1, "1", 1.0):
        record = Record(**good | {"plan": plan, "member": True, "churned": 1})
        assert coerce_column("plan", [record.plan], SCHEMA.columns["plan"]).tolist() == ["1"]
        assert coerce_column("member", [record.member], SCHEMA.columns["member"]).tolist() == ["True"]
    assert Record.model_validate_json(json.dumps(good | {"plan": 1, "zip": None})).plan == 1


@pytest.mark.parametrize(("field", "value"), [("plan", [1]), ("zip", {"code": "02139"}), ("visits", "many")])
def test_the_request_model_refuses_other_types_naming_the_field(record_model, field, value):
    good = {"plan": "1", "zip": "02139", "member": "True", "spend": 1.5, "visits": 2}
    with pytest.raises(ValidationError, match=field):
        record_model(SCHEMA)(**good | {field: value})


def test_plot_colours_with_a_category_first_and_with_no_number(rows):
    colours = plot_colours(coerce(rows, SCHEMA), SCHEMA)
    assert colours.shape == (4, 5) and colours.dtype == np.float64
    assert np.isnan(colours[:, :3]).all()
    np.testing.assert_array_equal(colours[:, 3], [10.5, 0, np.nan, 99])
    np.testing.assert_array_equal(colours[:, 4], [3, 0, 7, 1])
    only = plot_colours(pd.DataFrame({"flag": ["true", "false"], "code": ["0", "1"]}), CATEGORIES_ONLY)
    assert only.shape == (2, 2) and np.isnan(only).all()


def test_shap_plots_are_drawn_with_no_numeric_column(tmp_path):
    rows = pd.DataFrame({"flag": ["true", "false"] * 10, "code": ["0", "1", "1", "0"] * 5})
    values = np.random.default_rng(0).normal(size=(20, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        _plots(values[:, :, None], values, rows, CATEGORIES_ONLY, tmp_path)
    assert (tmp_path / "shap_beeswarm.png").stat().st_size > 1000
    assert (tmp_path / "shap_importance.png").stat().st_size > 1000


def test_fairness_without_sensitive_attributes(rows):
    assert SCHEMA.sensitive == {}
    answers = Task.of(SCHEMA).decode(np.array([[2.0], [-2.0], [-1.0], [1.5]]), {"threshold": 0.5})
    assert fairness(rows, Task.of(SCHEMA), answers, {"threshold": 0.5}, 1) == ({}, {})


def test_the_baseline_stops_early_on_small_data(params):
    assert early_stopping(np.arange(5000) % 2) == {}  # sklearn's own choice
    small = early_stopping(np.arange(300) % 2)
    assert small["early_stopping"] is True and small["validation_fraction"] == 0.1
    assert early_stopping(np.arange(12) % 2)["validation_fraction"] == pytest.approx(2 / 12)  # a row of each label
    assert early_stopping(np.array([0] * 20 + [1])) == {"early_stopping": False}
    model = fit_baseline(pandas_typed(300), SCHEMA, params.evaluate)
    assert model.n_iter_ < params.evaluate.baseline.max_iter


def test_the_baseline_takes_a_category_with_more_values_than_bins(params):
    schema = SCHEMA.model_copy(update={"columns": SCHEMA.columns | {
        "zip": SCHEMA.columns["zip"].model_copy(update={"categories": [f"{i:05d}" for i in range(400)]})}})
    frame = pandas_typed(600).assign(zip=[f"{i % 300:05d}" for i in range(600)])
    model = fit_baseline(frame, schema, params.evaluate)
    assert model.is_categorical_.tolist() == [True, False, True, False, False]  # zip as its position


def test_small_training_splits_get_smaller_batches():
    assert batch_size(256, 30_000) == 256
    assert batch_size(256, 140) == 18 and -(-140 // 18) >= MIN_BATCHES
    assert batch_size(256, 3) == 1


def test_a_split_with_one_label_is_a_clear_error():
    Task.of(SCHEMA).require(np.array([0, 1, 0]), "validation")
    with pytest.raises(DataError, match="the validation split holds only 'churned' = '0' \\(3 rows\\)"):
        Task.of(SCHEMA).require(np.array([0, 0, 0]), "validation")


def test_training_refuses_a_validation_split_with_one_label(params, tmp_path):
    from driftline.stages.train.data import SplitData

    splits = write_splits(tmp_path, params, one_label_val=True)
    with pytest.raises(DataError, match="the validation split holds only 'churned' = '0'"):
        SplitData(splits, small_params(params))
