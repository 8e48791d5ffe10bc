import io

import numpy as np
import pandas as pd
import pytest

from driftline.core.data import coerce, coerce_column, read_csv, sensitive_groups
from driftline.core.task import Task
from driftline.errors import DataError
from driftline.schema import Schema

NA = ["?", ""]
# A category written as numbers and a numeric-coded target: what type guessing used to break.
CODED = Schema.model_validate({
    "target": "paid",
    "task": "binary", "positive_label": "1",
    "columns": {
        "zone": {"type": "category", "categories": ["01", "2", "3"]},
        "amount": {"type": "integer", "min": 0, "max": 100},
        "paid": {"type": "category", "categories": ["0", "1"]},
    },
})


def test_question_marks_and_empty_cells_are_missing(tmp_path, params):
    path = tmp_path / "b.csv"
    path.write_text("age, workclass\n39, ?\n,State-gov\n")
    frame = read_csv(path, params.schema, NA)
    assert list(frame.columns) == ["age", "workclass"]
    assert frame["workclass"].isna().tolist() == [True, False]
    assert np.isnan(frame["age"].iloc[1])


def test_declared_categories_and_the_target_keep_their_spelling(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("zone,amount,paid\n01,5,1\n2,7,0\n3,,1\n")
    frame = read_csv(path, CODED, NA)
    assert frame["zone"].tolist() == ["01", "2", "3"]
    assert Task.of(CODED).targets(frame).tolist() == [1, 0, 1]


def test_labels_refuse_values_outside_the_two_classes():
    frame = pd.DataFrame({"paid": ["1", "1.0", "0"]})
    with pytest.raises(DataError, match=r"target 'paid' has 1 value\(s\) .* such as '1.0'"):
        Task.of(CODED).targets(frame)
    with pytest.raises(DataError, match="target 'paid'"):
        Task.of(CODED).targets(pd.DataFrame({"paid": ["1", None]}))


def test_an_empty_file_raises_data_error(tmp_path, params):
    path = tmp_path / "b.csv"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="not a readable CSV"):
        read_csv(path, params.schema, NA)


def test_an_open_file_is_called_by_the_name_given_in_errors(params):
    with pytest.raises(DataError, match=r"^new\.csv is not a readable CSV file"):
        read_csv(io.BytesIO(bytes(range(256))), params.schema, NA, name="new.csv")


@pytest.mark.parametrize("source", ["nosuchproto://bucket/batch.csv", "/no/such/file.csv", "s3://bucket/batch.csv"])
def test_unreadable_sources_raise_data_error(source, params):
    with pytest.raises(DataError, match="cannot read"):
        read_csv(source, params.schema, NA)


def test_coerce_names_the_column_with_text_in_numbers(params):
    frame = pd.DataFrame({"age": ["39", "abc"]})
    with pytest.raises(DataError, match="column 'age' has non-numeric values such as 'abc'"):
        coerce(frame, params.schema, ["age"])


def test_coerce_refuses_fractions_in_integer_columns(params):
    with pytest.raises(DataError, match="integer column 'age' has fractional values such as 39.5"):
        coerce(pd.DataFrame({"age": [39.0, 39.5, np.nan]}), params.schema, ["age"])


def test_coerce_applies_the_missing_value_rule(params):
    typed = coerce(pd.DataFrame({"age": ["?", "40"], "sex": ["?", "Male"]}), params.schema, ["age", "sex"], NA)
    assert typed["age"].isna().tolist() == [True, False]
    assert typed["sex"].isna().tolist() == [True, False]


def test_coerce_names_a_missing_column(params):
    with pytest.raises(DataError, match="missing column 'sex'"):
        coerce(pd.DataFrame({"age": [1]}), params.schema, ["age", "sex"])


def test_values_outside_the_bands_get_their_own_group():
    groups = sensitive_groups(pd.Series([16.0, 30.0, np.nan, 120.0]), [17.0, 25.0, 101.0])
    assert groups.tolist() == ["outside [17, 101)", "[25.0, 101.0)", "missing", "outside [17, 101)"]


def test_json_values_and_csv_cells_coerce_alike(params):
    """The service's lists (numbers, None) and a CSV's text cells give the same typed column."""
    age, workclass = params.schema.columns["age"], params.schema.columns["workclass"]
    from_json = coerce_column("age", [39, None, 50], age, ["?"])
    from_csv = coerce_column("age", np.array(["39", "?", "50"], dtype=object), age, ["?"])
    np.testing.assert_array_equal(from_json, from_csv)
    assert from_json.dtype == np.float64 and np.isnan(from_json[1])
    categories = coerce_column("workclass", [" Private", None, "?", 7], workclass, ["?"])
    assert categories[0] == "Private" and categories[3] == "7"
    assert pd.isna(categories[1]) and pd.isna(categories[2])
    with pytest.raises(DataError, match="integer column 'age' has fractional values such as 1.5"):
        coerce_column("age", [1.5], age)
    with pytest.raises(DataError, match="column 'age' has non-numeric values such as 'old'"):
        coerce_column("age", [30, "old"], age, ["?"])
