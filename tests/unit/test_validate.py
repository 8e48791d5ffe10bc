import pandas as pd
import pytest

from driftline.validate import check, failures


@pytest.fixture(scope="module")
def rows():
    from tests.conftest import full_data

    return full_data().head(300).replace({"?": None})


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (lambda f: f.drop(columns=["age"]), "expect_table_columns_to_match_set"),
        (lambda f: f.assign(age=f["age"].astype(object).where(f.index != 3, "old")), "in_type_list on age"),
        (lambda f: f.assign(income="maybe"), "in_set on income"),
        (lambda f: f.assign(workclass=None), "not_be_null on workclass"),
        (lambda f: f.assign(hours_per_week=500), "between on hours_per_week"),
        (lambda f: f.assign(sex="Alien"), "in_set on sex"),
        (lambda f: pd.concat([f, f]), "compound_columns_to_be_unique"),
        (lambda f: f.head(0), "row_count"),
    ],
)
def test_contract_names_what_broke(rows, params, corrupt, expected):
    problems = failures(check(corrupt(rows.copy()), params.schema, params.validation))
    assert any(expected in p for p in problems), problems


def test_clean_rows_pass(rows, params):
    assert failures(check(rows, params.schema, params.validation)) == []
