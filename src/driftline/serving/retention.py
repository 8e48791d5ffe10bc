"""Retention of the inference log: delete the records older than a cut, in batches, beside a writing service.

The log keeps every record's features, personal data in most tables, so `serve.log_retention_days` bounds how
long. A purge deletes the predictions created before the cut in batches of BATCH_ROWS, each batch its own short
transaction, and rests between batches as long as the batch took: the service's writer (serving.log's
InferenceLog) waits at most one batch for the database, on SQLite (one writer at a time, even in WAL) and
PostgreSQL alike. The oldest go first, so a purge stopped halfway has still cut a clean prefix.

Labels go with their records: a label received before the cut whose record id no longer has any prediction row
goes too. A label of a kept record stays, however old, since it is what gives that record a realised metric; a
label received after the cut stays until a later purge, even if its record is gone: each row is kept for the
retention counted from when the log received it.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import delete, exists, func, select
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.sql.expression import Exists

from driftline.config import Params
from driftline.errors import RetentionError
from driftline.serving.log import LABELS, PREDICTIONS, connect, log_url, utc_now

BATCH_ROWS = 5000
MIN_REST_S = 0.005


def cut_of(before: datetime | None, retention_days: int | None, now: datetime | None = None) -> datetime:
    """The purge's cut, naive UTC as the log stores times: BEFORE (a naive time is UTC) or else NOW minus
    RETENTION_DAYS; neither is an error that names the setting."""
    if before is not None:
        return naive_utc(before)
    if retention_days is None:
        raise RetentionError("no cut: give --before DATE, or set serve.log_retention_days in params.yaml")
    return naive_utc(now or utc_now()) - timedelta(days=retention_days)


def naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def purge(url: str, before: datetime, batch_rows: int = BATCH_ROWS, dry_run: bool = False) -> dict:
    """Delete the log's predictions created before BEFORE (rows at or after it stay) and the labels that only
    they had (module docstring), BATCH_ROWS per transaction; with DRY_RUN count them and delete nothing.
    Returns the cut (ISO, UTC) and the numbers of predictions and labels."""
    cut = naive_utc(before)
    if cut > utc_now():
        raise RetentionError(f"the cut {cut.isoformat()} (UTC) is in the future: it would delete rows the service "
                             "is writing now")
    if batch_rows < 1:
        raise RetentionError(f"batch_rows must be at least 1, not {batch_rows}")
    engine = connect(url)
    try:
        counts = counted(engine, cut) if dry_run else deleted(engine, cut, batch_rows)
    finally:
        engine.dispose()
    return {"before": cut.isoformat(), "dry_run": dry_run, "log": make_url(url).render_as_string(hide_password=True)
            } | counts


def purge_expired(params: Params, root: Path, now: datetime | None = None) -> dict | None:
    """The monitoring deployment's purge: the project's log cut at NOW minus serve.log_retention_days; None
    (nothing done) when retention is null."""
    days = params.serve.log_retention_days
    if days is None:
        return None
    return purge(log_url(params.serve.log_url, root), cut_of(None, days, now))


def deleted(engine: Engine, cut: datetime, batch_rows: int) -> dict:
    """Delete in batches, predictions first: a label's fate depends on which predictions are left."""
    old = (select(PREDICTIONS.c.id).where(PREDICTIONS.c.created < cut)
           .order_by(PREDICTIONS.c.id).limit(batch_rows).scalar_subquery())
    orphaned = (select(LABELS.c.record_id).where(LABELS.c.received < cut, ~has_prediction())
                .order_by(LABELS.c.record_id).limit(batch_rows).scalar_subquery())
    return {"predictions": in_batches(engine, delete(PREDICTIONS).where(PREDICTIONS.c.id.in_(old)), batch_rows),
            "labels": in_batches(engine, delete(LABELS).where(LABELS.c.record_id.in_(orphaned)), batch_rows)}


def in_batches(engine: Engine, statement, batch_rows: int) -> int:
    """Run the DELETE STATEMENT (at most BATCH_ROWS rows each) until it deletes fewer; the rows deleted."""
    total = 0
    while True:
        started = time.monotonic()
        with engine.begin() as connection:
            secure(connection)
            rows = connection.execute(statement).rowcount
        total += rows
        if rows < batch_rows:
            return total
        time.sleep(max(time.monotonic() - started, MIN_REST_S))  # the writer's turn: it waits one batch at most


def secure(connection: Connection) -> None:
    """On SQLite, overwrite what is deleted instead of leaving it in free pages: the point is that it is gone."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA secure_delete = ON")


def counted(engine: Engine, cut: datetime) -> dict:
    """What a purge at CUT would delete now: old predictions, and old labels whose records have none after CUT."""
    with engine.connect() as connection:
        predictions = connection.execute(select(func.count()).select_from(PREDICTIONS).where(
            PREDICTIONS.c.created < cut)).scalar_one()
        labels = connection.execute(select(func.count()).select_from(LABELS).where(
            LABELS.c.received < cut, ~has_prediction(PREDICTIONS.c.created >= cut))).scalar_one()
    return {"predictions": predictions, "labels": labels}


def has_prediction(*conditions) -> Exists:
    """Whether the label's record id has a prediction row (meeting CONDITIONS); the record_id index answers it."""
    return exists().where(PREDICTIONS.c.record_id == LABELS.c.record_id, *conditions)
