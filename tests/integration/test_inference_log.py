"""The inference log and late labels on a real SQLite file and a real PostgreSQL server: one code path."""

import gzip
import stat
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import JSON, Column, DateTime, Float, Integer, MetaData, String, Table, create_engine, inspect
from sqlalchemy.engine import make_url

from driftline.config import Params, load_params
from driftline.core.predictor import Predictor
from driftline.errors import ContractError
from driftline.serving import labels
from driftline.serving.answers import answer_records
from driftline.serving.dead_letters import DeadLetters
from driftline.serving.log import InferenceLog, connect, log_url, logged, read_window, utc_now
from tests.helpers import tiny_models
from tests.helpers.project import REPO, log_database

ADULT = load_params(REPO / "params.yaml").schema


def rows(n: int, start: int = 0, created=None) -> list[dict]:
    created = created or utc_now()
    return [{"request_id": f"r{i // 10}", "record_id": f"id-{i}", "created": created, "model_version": "v1",
             "features": {"age": 30 + i % 40, "sex": "Male" if i % 2 else "Female", "fnlwgt": None},
             "probability": (i % 100) / 100, "label": ">50K" if i % 100 >= 50 else "<=50K"}
            for i in range(start, start + n)]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    return log_database(request, tmp_path)


def test_close_writes_everything_appended_and_windows_read_it_back(url):
    log = InferenceLog(url, batch_rows=700)
    old = utc_now() - timedelta(days=2)
    log.append(rows(50, created=old))
    for start in range(50, 3050, 100):
        log.append(rows(100, start))
    status = log.close()
    assert status["written"] == 3050 and status["pending"] == 0 and status["failed_writes"] == 0
    window = read_window(url, ADULT, utc_now() - timedelta(hours=1))
    assert len(window) == 3000 and window["record_id"].iloc[0] == "id-50"
    assert window["income"].isna().all()
    assert {"age", "sex", "fnlwgt", "probability", "label", "model_version", "created"} <= set(window.columns)
    assert str(window["created"].dt.tz) == "UTC"
    assert len(read_window(url, ADULT)) == 3050


def test_a_broken_database_is_counted_and_the_rows_kept_then_dead_lettered_at_close(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    letters = tmp_path / "dead-letters.jsonl"
    log = InferenceLog(f"sqlite:///{tmp_path / 'file' / 'inference.db'}", retry_s=0.05, dead_letters=letters)
    log.append(rows(10))
    status = log.close(timeout_s=0.5)
    assert status["written"] == 0 and status["pending"] == 0 and status["failed_writes"] >= 1
    assert status["dead_lettered"] == 10 and status["lost"] == 0 and "FileExistsError" in status["last_error"]
    kept = DeadLetters(letters).read()
    assert [entry["row"] for entry in kept] == rows(10, created=kept[0]["row"]["created"])
    assert all("unwritten at shutdown: FileExistsError" in entry["error"] for entry in kept)


def log_with_rows(url: str, count: int, monkeypatch) -> Params:
    """A log at URL holding COUNT rows (ids id-0 ...), which the label commands read (DRIFTLINE_LOG_URL); the
    project's params."""
    log = InferenceLog(url)
    log.append(rows(count))
    log.close()
    monkeypatch.setenv("DRIFTLINE_LOG_URL", url)
    return load_params(REPO / "params.yaml")


def test_labels_join_by_id_idempotently_and_report_unknown_ids(url, tmp_path, monkeypatch):
    params = log_with_rows(url, 20, monkeypatch)
    file = tmp_path / "labels.csv"
    pd.DataFrame({"id": ["id-1", "id-2", "id-2", "nope"], "income": [">50K", "<=50K", "<=50K", ">50K"]}).to_csv(
        file, index=False)
    first = labels.run(str(file), params, tmp_path)
    assert (first["new"], first["unknown"], first["unknown_ids"]) == (2, 1, ["nope"])
    again = labels.run(str(file), params, tmp_path)
    assert (again["new"], again["updated"], again["unchanged"]) == (0, 0, 2)
    window = read_window(url, ADULT).set_index("record_id")
    assert window.loc["id-1", "income"] == ">50K" and window.loc["id-2", "income"] == "<=50K"
    assert window["income"].notna().sum() == 2


@pytest.mark.parametrize(("kind", "content", "named"), [
    ("adult", "id,salary\nid-1,>50K\n", "missing column"),
    ("adult", "id,income\nid-1,lots\n", "values outside"),
    ("adult", "id,income\nid-1,>50K\nid-1,<=50K\n", "labelled twice"),
    ("adult", "id,income\n", "no rows"),
    ("multiclass", "id,segment\nid-1,gold\nid-2,diamond\n", r"values outside \['bronze', .*such as \['diamond'\]"),
    ("regression", "id,spend\nid-1,12.5\nid-2,lots\nid-3,\nid-4,inf\n", r"not numbers, such as \['', 'inf', 'lots'\]"),
    ("regression", "id,spend\nid-1,12.5\nid-1,12.6\n", "labelled twice"),
])
def test_a_bad_label_file_is_quarantined_and_nothing_written(tmp_path, monkeypatch, kind, content, named):
    url = f"sqlite:///{tmp_path / 'inference.db'}"
    params = log_with_rows(url, 5, monkeypatch)
    if kind != "adult":
        params = params.model_copy(update={"schema_": tiny_models.schema(kind)})
    file = tmp_path / "labels.csv"
    file.write_text(content)
    with pytest.raises(ContractError, match=named):
        labels.run(str(file), params, tmp_path)
    assert read_window(url, params.schema)[params.schema.target].isna().all()
    assert list((tmp_path / "quarantine").glob("*-labels-labels.csv/labels.csv"))


def test_a_gzipped_private_label_file_is_read_and_its_quarantined_copy_stays_private(url, tmp_path, monkeypatch):
    params = log_with_rows(url, 5, monkeypatch)
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"  # gzip behind a .csv name, readable by its owner only
    good.write_bytes(gzip.compress(b"id,income\nid-1,>50K\n"))
    bad.write_bytes(gzip.compress(b"id,income\nid-1,lots\n"))
    for file in (good, bad):
        file.chmod(0o600)
    assert labels.run(str(good), params, tmp_path)["new"] == 1
    with pytest.raises(ContractError, match="values outside"):
        labels.run(str(bad), params, tmp_path)
    (copy,) = (tmp_path / "quarantine").glob("*-labels-bad.csv/bad.csv")
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600 and copy.read_bytes() == bad.read_bytes()


def test_an_integer_target_takes_whole_numbers_only():
    spec = tiny_models.schema("regression").columns["age"]  # an integer column, as a count target would be
    assert labels.value_problems(pd.Series(["3", "4.0", "1e1"]), "visits", spec) == []
    assert labels.value_problems(pd.Series(["3", "4.5"]), "visits", spec) == [
        "'visits' is an integer column but has fractional values, such as ['4.5']"]


def test_log_url_resolves_relative_sqlite_paths_and_the_variable_wins(tmp_path, monkeypatch):
    monkeypatch.delenv("DRIFTLINE_LOG_URL", raising=False)
    assert log_url("sqlite:///logs/x.db", tmp_path) == f"sqlite:///{tmp_path.resolve() / 'logs/x.db'}"
    monkeypatch.setenv("DRIFTLINE_LOG_URL", "postgresql+psycopg://u@h/db")
    assert log_url("sqlite:///logs/x.db", tmp_path) == "postgresql+psycopg://u@h/db"


def test_sqlite_runs_in_wal_mode(tmp_path):
    engine = connect(f"sqlite:///{tmp_path / 'inference.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_a_log_made_before_tasks_gains_their_columns_and_reads_back_as_before(url):
    before = MetaData()
    Table("predictions", before,  # the table as the log created it before it held every task's answers
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("request_id", String(32), nullable=False), Column("record_id", String(200), nullable=False),
          Column("created", DateTime, nullable=False), Column("model_version", String(64), nullable=False),
          Column("features", JSON, nullable=False), Column("probability", Float, nullable=False),
          Column("label", String(200), nullable=False))
    if url.startswith("sqlite"):
        Path(make_url(url).database).parent.mkdir()
    engine = create_engine(url)
    before.create_all(engine)
    with engine.begin() as connection:
        connection.execute(before.tables["predictions"].insert(), rows(3))
    engine.dispose()
    log = InferenceLog(url)
    log.append(rows(2, start=3))
    assert log.close()["written"] == 2
    columns = {c["name"] for c in inspect(engine).get_columns("predictions")}
    assert {"prediction", "outputs"} <= columns
    window = read_window(url, ADULT)
    assert window["record_id"].tolist() == [f"id-{i}" for i in range(5)]
    assert window["probability"].tolist() == [0.0, 0.01, 0.02, 0.03, 0.04]
    assert window["label"].tolist() == ["<=50K"] * 5
    assert list(window.columns[-3:]) == ["probability", "label", "income"]


@pytest.fixture(scope="module")
def predictors() -> dict[str, Predictor]:
    return {kind: Predictor.load(tiny_models.package(kind).path) for kind in tiny_models.TARGETS}


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_each_task_reads_back_its_answers_as_predict_names_them(url, predictors, kind):
    predictor, frame = predictors[kind], tiny_models.table(kind, rows=40, seed=1)
    features = frame[predictor.schema.features]
    answers = answer_records(predictor.task, predictor.predict_columns({c: features[c].tolist() for c in features}))
    log = InferenceLog(url)
    log.append([{"request_id": "r", "record_id": f"id-{n}", "created": utc_now(), "model_version": "v1",
                 "features": {k: None if pd.isna(v) else v for k, v in record.items()}} | logged(answer)
                for n, (record, answer) in enumerate(zip(features.to_dict("records"), answers))])
    assert log.close()["written"] == len(frame)
    window = read_window(url, predictor.schema)
    expected = predictor.predict(features)
    outputs = predictor.task.output_columns
    assert list(window.columns) == [*features.columns, "record_id", "request_id", "created", "model_version", *outputs,
                                    predictor.schema.target]
    for name in outputs:
        if name == "label":
            assert window[name].tolist() == expected[name].tolist()
        else:
            np.testing.assert_allclose(window[name].astype(float), expected[name], rtol=1e-12)
    pd.testing.assert_frame_equal(window[features.columns], features, check_dtype=False)


def test_regression_labels_are_numbers_stored_by_their_canonical_text(url, predictors, tmp_path, monkeypatch):
    log = InferenceLog(url)
    log.append(rows(3))
    log.close()
    monkeypatch.setenv("DRIFTLINE_LOG_URL", url)
    params = load_params(REPO / "params.yaml").model_copy(update={"schema_": tiny_models.schema("regression")})
    file = tmp_path / "labels.csv"
    file.write_text("id,spend\nid-0,12.50\nid-0,1.25e1\nid-1,7\nid-2, 0.1 \n")
    assert labels.run(str(file), params, tmp_path)["new"] == 3
    file.write_text("id,spend\nid-0,12.5\nid-1,7.0\n")
    assert labels.run(str(file), params, tmp_path)["unchanged"] == 2
    window = read_window(url, params.schema).set_index("record_id")
    assert window["spend"].to_dict() == {"id-0": "12.5", "id-1": "7", "id-2": "0.1"}
