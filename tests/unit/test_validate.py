import time
from pathlib import Path

import pandas as pd
import pytest

from driftline.core.contract import check, failures, local_time_zone
from driftline.stages.validate import run


@pytest.fixture(scope="module")
def rows():
    from tests.helpers.project import full_data

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


def stage_outputs(root: Path, params, data: pd.DataFrame, monkeypatch) -> dict[str, bytes]:
    """Run the stage as dvc.yaml does (relative paths, from the project folder); every file it wrote, by name."""
    (root / "data").mkdir(parents=True)
    data.to_csv(root / "data" / "adult.csv", index=False)
    monkeypatch.chdir(root)
    run(params, Path("artifacts/validate/result.json"), Path("artifacts/validate/bias.json"),
        Path("artifacts/validate/docs"), Path("metrics/validate.json"))
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for folder in ("artifacts", "metrics") for p in (root / folder).rglob("*") if p.is_file()}


def test_identical_data_gives_byte_identical_outputs(params, tmp_path, monkeypatch):
    """DVC hashes the outputs: nothing in them may depend on when or where the stage ran."""
    from tests.helpers.project import full_data

    data = full_data().head(300)
    first = stage_outputs(tmp_path / "first", params, data, monkeypatch)
    with local_time_zone("Asia/Tokyo"):  # another machine, seconds later
        assert time.strftime("%H", time.localtime(0)) == "09"
        second = stage_outputs(tmp_path / "elsewhere" / "second", params, data, monkeypatch)
    assert sorted(first) == sorted(second)
    assert [name for name in first if first[name] != second[name]] == []
    assert [name for name, content in first.items() if str(tmp_path).encode() in content] == []
