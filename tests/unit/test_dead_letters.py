"""The inference log under faults, on a real SQLite file: rows the database refuses are isolated and dead-lettered
with their error, the others written; an outage keeps its rows; a replay writes what the database now takes."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError

from driftline.serving.dead_letters import DeadLetters, is_outage
from driftline.serving.log import PREDICTIONS, InferenceLog, connect, utc_now, value_problems
from driftline.serving.replay import replay

REFUSED = "refused-by-the-database"
TRIGGER = (f"CREATE TRIGGER refuse BEFORE INSERT ON predictions WHEN NEW.record_id = '{REFUSED}' "
           "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END")


def refusing_log(tmp_path) -> str:
    """A SQLite log whose database refuses the rows of record id REFUSED, as a constraint would."""
    url = f"sqlite:///{tmp_path / 'inference.db'}"
    engine = connect(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(TRIGGER)
    engine.dispose()
    return url


def rows(ids: list[str]) -> list[dict]:
    created = utc_now()
    return [{"request_id": "r", "record_id": i, "created": created, "model_version": "v1",
             "features": {"age": 10**30 if i == "too-big" else 40, "sex": "Male"}, "probability": 0.5, "label": "<=50K"}
            for i in ids]


def stored_ids(url: str) -> list[str]:
    engine = connect(url)
    with engine.connect() as connection:
        found = connection.execute(select(PREDICTIONS.c.record_id).order_by(PREDICTIONS.c.id)).scalars().all()
    engine.dispose()
    return found


@pytest.fixture
def dead_lettered(tmp_path):
    """A log that was given 200 rows, two of them refused by its database and one that orjson cannot write."""
    url, letters = refusing_log(tmp_path), tmp_path / "dead-letters.jsonl"
    ids = [f"id-{n}" for n in range(200)]
    ids[37], ids[150], ids[151] = REFUSED, "too-big", REFUSED
    log = InferenceLog(url, batch_rows=64, dead_letters=letters)
    log.append(rows(ids))
    assert log.flush(timeout_s=30)
    yield url, letters, ids, log.status()
    log.close()


def test_refused_rows_are_dead_lettered_and_the_rest_written_in_order(dead_lettered):
    url, letters, ids, status = dead_lettered
    assert (status["written"], status["dead_lettered"], status["lost"], status["pending"]) == (197, 3, 0, 0)
    assert status["failed_writes"] == 0  # refusals are not outages: nothing was retried
    assert stored_ids(url) == [i for i in ids if i not in (REFUSED, "too-big")]
    kept = DeadLetters(letters).read()
    assert [entry["row"]["record_id"] for entry in kept] == [REFUSED, "too-big", REFUSED]
    assert "IntegrityError: (sqlite3.IntegrityError) refused by a trigger" in kept[0]["error"]
    assert "Integer exceeds 64-bit range" in kept[1]["error"]
    assert kept[1]["row"] == rows(["too-big"])[0] | {"created": kept[1]["row"]["created"]}  # the integer whole


def test_replay_writes_what_the_database_now_takes_and_keeps_the_rest(dead_lettered):
    url, letters, ids, _ = dead_lettered
    assert replay(url, letters) | {"file": None} == {"file": None, "replayed": 3, "written": 0, "refused": 3,
                                                     "unwritten": 0, "outage": None}
    engine = connect(url)
    with engine.begin() as connection:  # the cause mended: the trigger goes
        connection.exec_driver_sql("DROP TRIGGER refuse")
    engine.dispose()
    counts = replay(url, letters)
    assert (counts["written"], counts["refused"], counts["unwritten"]) == (2, 1, 0)
    assert stored_ids(url)[-2:] == [REFUSED, REFUSED]
    assert [entry["row"]["record_id"] for entry in DeadLetters(letters).read()] == ["too-big"]


def test_rows_are_lost_only_where_the_dead_letter_file_refuses_them_too(tmp_path):
    letters = tmp_path / "dead-letters.jsonl"
    letters.mkdir()  # a folder where the file should be: every write to it fails
    log = InferenceLog(refusing_log(tmp_path), dead_letters=letters)
    log.append(rows(["a", REFUSED, "b"]))
    assert log.flush(timeout_s=30)
    status = log.close()
    assert (status["written"], status["dead_lettered"], status["lost"]) == (2, 0, 1)
    assert "IsADirectoryError" in status["last_error"]


def test_an_outage_keeps_its_rows_until_the_database_is_back(tmp_path):
    (tmp_path / "logs").write_text("a file where the log's folder should be")
    log = InferenceLog(f"sqlite:///{tmp_path / 'logs' / 'inference.db'}", retry_s=0.05,
                       dead_letters=tmp_path / "dead-letters.jsonl")
    log.append(rows(["a", "b"]))
    assert log.tried(timeout_s=30) and not log.flush(timeout_s=0)  # the outage: tried, and nothing written
    assert log.status()["pending"] == 2 and log.status()["failed_writes"] >= 1
    (tmp_path / "logs").unlink()
    assert log.flush(timeout_s=30)
    status = log.close()
    assert (status["written"], status["dead_lettered"], status["pending"]) == (2, 0, 0)


def test_outages_are_told_from_refused_rows():
    assert is_outage(OperationalError("INSERT", {}, Exception("database is locked")))
    assert is_outage(FileNotFoundError("gone"))
    assert not is_outage(IntegrityError("INSERT", {}, Exception("NOT NULL constraint failed")))
    assert not is_outage(StatementError("Integer exceeds 64-bit range", "INSERT", {}, TypeError()))


def test_values_the_log_cannot_hold_are_named():
    columns = {"age": [30, 10**20, None], "workclass": ["Private", float("inf"), "x" * 11], "hours": [40.5, 1.0, 2.0]}
    assert value_problems(columns, max_text_chars=10) == [
        "records[1].age: an integer beyond 64 bits", "records[1].workclass: inf is not a finite number",
        "records[2].workclass: 11 characters, more than 10"]
    assert value_problems({"age": [2**63 - 1, -(2**63), True]}, 10) == []
