"""Retention of the inference log on a real SQLite file and a real PostgreSQL server: the purge leaves exactly
the rows at and after the cut, the labels only old records had go, and a writing service loses nothing."""

import threading
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from sqlalchemy import select

from driftline.config import load_params
from driftline.errors import RetentionError
from driftline.serving.log import LABELS, PREDICTIONS, InferenceLog, connect, utc_now
from driftline.serving.retention import cut_of, purge, purge_expired
from tests.helpers.project import REPO, cli, log_database


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    return log_database(request, tmp_path)


def row(record_id: str, created: datetime) -> dict:
    return {"request_id": "r", "record_id": record_id, "created": created, "model_version": "v1",
            "features": {"age": 40, "sex": "Female"}, "probability": 0.3, "label": "<=50K"}


def write(url: str, rows: list[dict], labels: list[dict] = ()) -> None:
    engine = connect(url)
    with engine.begin() as connection:
        connection.execute(PREDICTIONS.insert(), rows)
        if labels:
            connection.execute(LABELS.insert(), list(labels))
    engine.dispose()


def stored(url: str) -> tuple[list[tuple[str, datetime]], set[str]]:
    """The predictions (record id, created) by id, and the labelled record ids."""
    engine = connect(url)
    with engine.connect() as connection:
        predictions = [tuple(r) for r in connection.execute(
            select(PREDICTIONS.c.record_id, PREDICTIONS.c.created).order_by(PREDICTIONS.c.id))]
        labelled = set(connection.execute(select(LABELS.c.record_id)).scalars())
    engine.dispose()
    return predictions, labelled


def test_purge_leaves_exactly_the_rows_at_and_after_the_cut_and_the_labels_they_need(url):
    cut = utc_now().replace(microsecond=0) - timedelta(days=1)
    # 60 rows before the cut, one exactly at it, 39 after; shuffled ids so that id order is not time order
    rows = [row(f"id-{i}", cut + timedelta(seconds=i - 60)) for i in range(100)]
    rows = rows[::2] + rows[1::2]
    rows.append(row("id-5", cut + timedelta(hours=1)))  # id-5 scored again after the cut: it keeps its label
    old, recent = cut - timedelta(hours=2), cut + timedelta(minutes=30)
    labels = [{"record_id": record_id, "target": ">50K", "received": received} for record_id, received in (
        ("id-1", old),  # its only row goes: so does the label
        ("id-2", recent),  # its row goes, but the label is younger than the cut: kept until a later purge
        ("id-5", old),  # one row stays: kept
        ("id-70", old),  # a kept record's label, however old: kept
        ("never-logged", old),  # no row at all, received before the cut: goes
    )]
    write(url, rows, labels)
    expected = [(r["record_id"], r["created"]) for r in rows if r["created"] >= cut]

    dry = purge(url, cut, batch_rows=7, dry_run=True)
    assert (dry["predictions"], dry["labels"]) == (60, 2) and dry["dry_run"]
    assert len(stored(url)[0]) == 101

    done = purge(url, cut.replace(tzinfo=timezone.utc), batch_rows=7)  # aware or naive UTC: the same cut
    assert (done["predictions"], done["labels"]) == (60, 2) and done["before"] == cut.isoformat()
    predictions, labelled = stored(url)
    assert predictions == expected and ("id-60", cut) in predictions
    assert labelled == {"id-2", "id-5", "id-70"}
    again = purge(url, cut, batch_rows=7)
    assert (again["predictions"], again["labels"]) == (0, 0)


def test_a_writing_service_loses_nothing_while_a_purge_runs(url):
    cut = utc_now() - timedelta(days=1)
    write(url, [row(f"old-{i}", cut - timedelta(minutes=i + 1)) for i in range(3000)])
    log = InferenceLog(url, batch_rows=50, interval_s=0.005)
    serving, purged, appended = threading.Event(), threading.Event(), []

    def serve() -> None:  # the service: a few records every few milliseconds until the purge is done, then more
        n = 0
        while not purged.is_set() or n < 400:
            batch = [row(f"new-{n + k}", utc_now()) for k in range(4)]
            log.append(batch)
            serving.set()
            appended.extend(r["record_id"] for r in batch)
            n += 4
            purged.wait(0.002)

    writer = threading.Thread(target=serve)
    writer.start()
    try:
        assert serving.wait(60) and log.tried(timeout_s=60)  # the purge starts beside a live writer
        assert log.counts["written"] > 0
        before = log.counts["written"]
        done = purge(url, cut, batch_rows=100)
        during = log.counts["written"] - before
    finally:
        purged.set()
        writer.join()
    status = log.close()
    assert done["predictions"] == 3000 and during > 0  # the writer went on writing between the purge's batches
    assert status["failed_writes"] == 0 and status["dropped"] == 0 and status["written"] == len(appended)
    assert [record_id for record_id, _ in stored(url)[0]] == appended


def test_the_cut_is_given_or_configured_and_never_in_the_future(tmp_path):
    now = datetime(2026, 3, 10, 12, 0)
    assert cut_of(None, 30, now) == datetime(2026, 2, 8, 12, 0)
    assert cut_of(datetime(2026, 3, 1, 1, 0, tzinfo=timezone(timedelta(hours=2))), 30, now) == datetime(2026, 2, 28,
                                                                                                        23, 0)
    with pytest.raises(RetentionError, match="serve.log_retention_days"):
        cut_of(None, None, now)
    with pytest.raises(RetentionError, match="future"):
        purge(f"sqlite:///{tmp_path / 'inference.db'}", utc_now() + timedelta(minutes=5))


def test_purge_expired_follows_retention_and_does_nothing_without_it(tmp_path, monkeypatch):
    monkeypatch.delenv("DRIFTLINE_LOG_URL", raising=False)
    params = load_params(REPO / "params.yaml")
    url = f"sqlite:///{tmp_path / 'logs' / 'inference.db'}"
    now = utc_now()
    write(url, [row("old", now - timedelta(days=8)), row("young", now - timedelta(days=6))])
    kept = params.model_copy(update={"serve": params.serve.model_copy(update={"log_retention_days": None})})
    assert purge_expired(kept, tmp_path) is None
    week = params.model_copy(update={"serve": params.serve.model_copy(update={"log_retention_days": 7})})
    assert purge_expired(week, tmp_path, now)["predictions"] == 1
    assert [record_id for record_id, _ in stored(url)[0]] == ["young"]


def test_log_purge_command_prints_counts_and_refuses_a_missing_cut(tmp_path, monkeypatch):
    monkeypatch.delenv("DRIFTLINE_LOG_URL", raising=False)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["serve"] |= {"log_url": "sqlite:///logs/inference.db", "log_retention_days": None}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    url = f"sqlite:///{tmp_path / 'logs' / 'inference.db'}"
    write(url, [row("a", datetime(2020, 1, 1, 12)), row("b", datetime(2020, 1, 1, 23, 59)),
                row("c", datetime(2020, 1, 2)), row("d", utc_now())])

    dry = cli(tmp_path, "log", "purge", "--before", "2020-01-02", "--dry-run")
    assert "would delete 2 predictions and 0 labels logged before 2020-01-02T00:00:00" in dry.stderr
    done = cli(tmp_path, "log", "purge", "--before", "2020-01-02")  # a date: its midnight UTC
    assert "deleted 2 predictions" in done.stderr
    assert [record_id for record_id, _ in stored(url)[0]] == ["c", "d"]
    missing = cli(tmp_path, "log", "purge", check=False)
    assert missing.returncode == 1 and "serve.log_retention_days" in missing.stderr
