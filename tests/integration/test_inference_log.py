"""The inference log and late labels on a real SQLite file and a real PostgreSQL server: one code path."""

import uuid
from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import create_engine

from driftline.config import load_params
from driftline.errors import ContractError
from driftline.serving import labels
from driftline.serving.log import InferenceLog, connect, log_url, read_window, utc_now
from tests.conftest import REPO


def rows(n: int, start: int = 0, created=None) -> list[dict]:
    created = created or utc_now()
    return [{"request_id": f"r{i // 10}", "record_id": f"id-{i}", "created": created, "model_version": "v1",
             "features": {"age": 30 + i % 40, "sex": "Male" if i % 2 else "Female", "fnlwgt": None},
             "probability": (i % 100) / 100, "label": ">50K" if i % 100 >= 50 else "<=50K"}
            for i in range(start, start + n)]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'logs' / 'inference.db'}"
    server = request.getfixturevalue("postgres")  # one server per session, a fresh database per test
    name = f"t{uuid.uuid4().hex[:12]}"
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return server.rsplit("/", 1)[0] + "/" + name


def test_close_writes_everything_appended_and_windows_read_it_back(url):
    log = InferenceLog(url, batch_rows=700)
    old = utc_now() - timedelta(days=2)
    log.append(rows(50, created=old))
    for start in range(50, 3050, 100):
        log.append(rows(100, start))
    status = log.close()
    assert status["written"] == 3050 and status["pending"] == 0 and status["failed_writes"] == 0
    window = read_window(url, "income", utc_now() - timedelta(hours=1))
    assert len(window) == 3000 and window["record_id"].iloc[0] == "id-50"
    assert window["income"].isna().all()
    assert {"age", "sex", "fnlwgt", "probability", "label", "model_version", "created"} <= set(window.columns)
    assert str(window["created"].dt.tz) == "UTC"
    assert len(read_window(url, "income")) == 3050


def test_a_broken_database_is_counted_and_the_rows_kept(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    log = InferenceLog(f"sqlite:///{tmp_path / 'file' / 'inference.db'}", retry_s=0.05)
    log.append(rows(10))
    status = log.close(timeout_s=0.5)
    assert status["written"] == 0 and status["pending"] == 10 and status["failed_writes"] >= 1
    assert "FileExistsError" in status["last_error"]


def test_labels_join_by_id_idempotently_and_report_unknown_ids(url, tmp_path, monkeypatch):
    log = InferenceLog(url)
    log.append(rows(20))
    log.close()
    monkeypatch.setenv("DRIFTLINE_LOG_URL", url)
    params = load_params(REPO / "params.yaml")
    file = tmp_path / "labels.csv"
    pd.DataFrame({"id": ["id-1", "id-2", "id-2", "nope"], "income": [">50K", "<=50K", "<=50K", ">50K"]}).to_csv(
        file, index=False)
    first = labels.run(str(file), params, tmp_path)
    assert (first["new"], first["unknown"], first["unknown_ids"]) == (2, 1, ["nope"])
    again = labels.run(str(file), params, tmp_path)
    assert (again["new"], again["updated"], again["unchanged"]) == (0, 0, 2)
    window = read_window(url, "income").set_index("record_id")
    assert window.loc["id-1", "income"] == ">50K" and window.loc["id-2", "income"] == "<=50K"
    assert window["income"].notna().sum() == 2


@pytest.mark.parametrize(("content", "named"), [
    ("id,salary\nid-1,>50K\n", "missing column"),
    ("id,income\nid-1,lots\n", "values outside"),
    ("id,income\nid-1,>50K\nid-1,<=50K\n", "labelled twice"),
    ("id,income\n", "no rows"),
])
def test_a_bad_label_file_is_quarantined_and_nothing_written(tmp_path, monkeypatch, content, named):
    url = f"sqlite:///{tmp_path / 'inference.db'}"
    log = InferenceLog(url)
    log.append(rows(5))
    log.close()
    monkeypatch.setenv("DRIFTLINE_LOG_URL", url)
    file = tmp_path / "labels.csv"
    file.write_text(content)
    with pytest.raises(ContractError, match=named):
        labels.run(str(file), load_params(REPO / "params.yaml"), tmp_path)
    assert read_window(url, "income")["income"].isna().all()
    assert list((tmp_path / "quarantine").glob("*-labels-labels.csv/labels.csv"))


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
