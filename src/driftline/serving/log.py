"""The inference log: every record the service scored, written off the request path, read back by window.

One SQLAlchemy Core code path for SQLite (the default: a file in the project, in WAL mode so `driftline
monitor` reads while the service writes) and PostgreSQL (a `postgresql+psycopg://` URL). Labels that
arrive later live in their own table, keyed by record id, and are joined when a window is read.

Each row holds the service's answer (serving.answers): `probability` (binary), `label` (classification),
`prediction` (regression), and the rest of it in `outputs` (the class probabilities, the interval). Logs
made before the log held other tasks' answers gain the new columns when they are first connected to; their
`probability` and `label` stay NOT NULL (SQLite cannot relax a column in place), so such a log takes
classification rows only: a regression model logs to a new one.
"""

from __future__ import annotations

import collections
import os
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pandas as pd
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    inspect,
    select,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from driftline.config import Schema
from driftline.core.task import Task
from driftline.serving.answers import answer_columns

URL_VARIABLE = "DRIFTLINE_LOG_URL"
METADATA = MetaData()
PREDICTIONS = Table(
    "predictions", METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(32), nullable=False),
    Column("record_id", String(200), nullable=False, index=True),
    Column("created", DateTime, nullable=False, index=True),  # UTC, stored without a zone by both databases
    Column("model_version", String(64), nullable=False),
    Column("features", JSON, nullable=False),
    Column("probability", Float),  # binary
    Column("label", String(200)),  # classification
    Column("prediction", Float),  # regression
    # the rest of the answer: multiclass {"probabilities": ...}, regression {"interval": ...}; none (NULL): binary
    Column("outputs", JSON(none_as_null=True)),
    # a rollout's arm (registry.rollout): "champion" or "candidate"; NULL where no rollout ran
    Column("arm", String(16)),
    # True for the candidate's row in shadow: scored and logged, not answered; NULL (as False) otherwise
    Column("shadow", Boolean),
)
ANSWER_COLUMNS = ("probability", "label", "prediction")
LABELS = Table(
    "labels", METADATA,
    Column("record_id", String(200), primary_key=True),
    Column("target", String(200), nullable=False),
    Column("received", DateTime, nullable=False, index=True),
)


def record_id_field(columns) -> str:
    """The record-id key of requests, answers and label files: `id`, or `record_id` where the data has an `id`."""
    return "id" if "id" not in columns else "record_id"


def log_url(configured: str, root: Path = Path(".")) -> str:
    """The log's URL: DRIFTLINE_LOG_URL if set, else CONFIGURED; a relative SQLite path is under ROOT."""
    url = make_url(os.environ.get(URL_VARIABLE) or configured)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).is_absolute():
        url = url.set(database=str((root / url.database).resolve()))
    return url.render_as_string(hide_password=False)


def connect(url: str) -> Engine:
    """An engine on URL with the log's tables created; SQLite files get their folder and WAL mode."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, json_serializer=_json)

        @event.listens_for(engine, "connect")
        def _wal(connection, _record) -> None:  # per connection: readers and the writer never block each other
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
    else:
        engine = create_engine(url, pool_pre_ping=True, json_serializer=_json)
    METADATA.create_all(engine)
    add_missing_columns(engine)
    return engine


def add_missing_columns(engine: Engine) -> None:
    """Add the columns that PREDICTIONS has and the database's table lacks (a log made by an older version):
    nullable, so its rows read back as they were written."""
    present = {column["name"] for column in inspect(engine).get_columns(PREDICTIONS.name)}
    missing = [column for column in PREDICTIONS.columns if column.name not in present]
    if not missing:
        return
    with engine.begin() as connection:
        for column in missing:
            kind = column.type.compile(dialect=engine.dialect)
            connection.exec_driver_sql(f"ALTER TABLE {PREDICTIONS.name} ADD COLUMN {column.name} {kind}")


def logged(answer: dict) -> dict:
    """One record's answer (serving.answers) as the log's columns: probability, label and prediction where the
    task answers them (else None), the rest in outputs."""
    rest = {k: v for k, v in answer.items() if k not in ANSWER_COLUMNS}
    return {k: answer.get(k) for k in ANSWER_COLUMNS} | {"outputs": rest or None}


def _json(value) -> str:
    return orjson.dumps(value).decode()  # several times faster than json.dumps: the writer shares the GIL


def utc_now() -> datetime:
    """Now, in UTC, without a zone: how the log stores times."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class InferenceLog:
    """Rows appended by the service are written by a background thread, in batches, in one transaction each.

    `append` never blocks and never raises. A failed write (a broken, locked or full database) keeps its
    rows and is retried; the failure is counted for /metrics. Only beyond MAX_PENDING rows are the oldest
    dropped, and counted. `close` writes whatever is pending before it returns (the service's shutdown).
    """

    def __init__(self, url: str, batch_rows: int = 5000, interval_s: float = 0.1, retry_s: float = 1.0,
                 max_pending: int = 1_000_000):
        self.url, self.batch_rows, self.interval_s, self.retry_s = url, batch_rows, interval_s, retry_s
        self.max_pending = max_pending
        self.pending: collections.deque[dict] = collections.deque()
        self.counts = {"written": 0, "failed_writes": 0, "dropped": 0}
        self.last_error: str | None = None
        self._engine: Engine | None = None
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
        self._thread.start()

    def append(self, rows: list[dict]) -> None:
        self.pending.extend(rows)  # deque operations are atomic: no lock on the request path
        overflow = len(self.pending) - self.max_pending
        for _ in range(max(overflow, 0)):
            self.pending.popleft()
        if overflow > 0:
            self.counts["dropped"] += overflow

    def status(self) -> dict:
        return self.counts | {"pending": len(self.pending), "last_error": self.last_error}

    def close(self, timeout_s: float = 10) -> dict:
        """Write what is pending (retrying until TIMEOUT_S, within the server's shutdown grace) and stop; returns
        the final counts."""
        self._closing.set()
        self._thread.join(timeout_s)
        if self.pending:
            print(f"inference log: {len(self.pending)} rows could not be written to {self._shown()}: "
                  f"{self.last_error}", file=sys.stderr)
        if self._engine is not None:
            self._engine.dispose()
        return self.status()

    def _shown(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def _run(self) -> None:
        while True:
            closing = self._closing.wait(self.interval_s)
            while self.pending:
                if not self._write():
                    time.sleep(self.retry_s)
                    break
            if closing and not self.pending:
                return

    def _write(self) -> bool:
        batch = [self.pending.popleft() for _ in range(min(self.batch_rows, len(self.pending)))]
        try:
            if self._engine is None:
                self._engine = connect(self.url)
            with self._engine.begin() as connection:
                connection.execute(PREDICTIONS.insert(), batch)
        except (SQLAlchemyError, OSError) as exc:
            self.pending.extendleft(reversed(batch))  # back at the front, in order, for the retry
            self.counts["failed_writes"] += 1
            self.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            return False
        self.counts["written"] += len(batch)
        return True


def read_window(url: str, schema: Schema, start: datetime | None = None,
                end: datetime | None = None, arms: bool = False) -> pd.DataFrame:
    """The logged records created in [START, END) (UTC), oldest first: the features as the service received
    them, then record_id, request_id, created (UTC), model_version, the answers as Predictor.predict names
    them (the task's output_columns), and the target (the late label as stored text; None where none arrived).

    Only the answers sent: a shadow candidate's rows are left out, unless ARMS, which reads every row and adds
    `arm` (champion, candidate; None outside a rollout) and `shadow` (whether the answer was withheld)."""
    query = (select(PREDICTIONS, LABELS.c.target)
             .join(LABELS, LABELS.c.record_id == PREDICTIONS.c.record_id, isouter=True)
             .order_by(PREDICTIONS.c.id))
    if not arms:
        query = query.where(PREDICTIONS.c.shadow.is_not(True))
    for bound, compare in ((start, PREDICTIONS.c.created.__ge__), (end, PREDICTIONS.c.created.__lt__)):
        if bound is not None:
            query = query.where(compare(bound.astimezone(timezone.utc).replace(tzinfo=None)))
    engine = connect(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
    finally:
        engine.dispose()
    features = pd.DataFrame.from_records([row["features"] for row in rows])
    answers = [{k: row[k] for k in ANSWER_COLUMNS if row[k] is not None} | (row["outputs"] or {}) for row in rows]
    meta = pd.DataFrame({
        "record_id": [row["record_id"] for row in rows],
        "request_id": [row["request_id"] for row in rows],
        "created": pd.to_datetime([row["created"] for row in rows], utc=True),
        "model_version": [row["model_version"] for row in rows],
        **answer_columns(Task.of(schema), answers),
        schema.target: [row["target"] for row in rows],
    } | ({"arm": [row["arm"] for row in rows], "shadow": [bool(row["shadow"]) for row in rows]} if arms else {}))
    return pd.concat([features.drop(columns=[schema.target], errors="ignore"), meta], axis=1)
