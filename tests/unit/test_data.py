import io

import numpy as np
import pandas as pd
import pytest

from driftline.config import DataParams
from driftline.data import DataError, coerce, read_csv

DATA = DataParams(dir="data", na_values=["?", ""])


def test_question_marks_and_empty_cells_are_missing(tmp_path, params):
    path = tmp_path / "b.csv"
    path.write_text("age, workclass\n39, ?\n,State-gov\n")
    frame = read_csv(path, DATA)
    assert list(frame.columns) == ["age", "workclass"]
    assert frame["workclass"].isna().tolist() == [True, False]
    assert np.isnan(frame["age"].iloc[1])


def test_an_empty_file_raises_data_error(tmp_path):
    path = tmp_path / "b.csv"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="not a readable CSV"):
        read_csv(path, DATA)


def test_coerce_names_the_column_with_text_in_numbers(params):
    frame = pd.DataFrame({"age": ["39", "abc"]})
    with pytest.raises(DataError, match="column 'age' has non-numeric values such as 'abc'"):
        coerce(frame, params.schema, ["age"])


def test_coerce_names_a_missing_column(params):
    with pytest.raises(DataError, match="missing column 'sex'"):
        coerce(pd.DataFrame({"age": [1]}), params.schema, ["age", "sex"])
