"""The inference log: every record the service scored, written off the request path, read back by window.

One SQLAlchemy Core code path for SQLite (the default: a file in the project, in WAL mode so `driftline
monitor` reads while the service writes) and PostgreSQL (a `postgresql+psycopg://` URL). Labels that
arrive later live in their own table, keyed by record id, and are joined when a window is read.

Each row holds the service's answer (serving.answers): `probability` (binary), `label` (classification),
`prediction` (regression), and the rest of it in `outputs` (the class probabilities, the interval). Logs
made before the log held other tasks' answers gain the new columns when they are first connected to; their
`probability` and `label` stay NOT NULL (SQLite cannot relax a column in place), so such a log takes
classification rows only: a regression model logs to a new one.

A row the database refuses never holds up the others: it goes to the dead-letter file (DeadLetters), which
`driftline log replay` writes back (serving.replay). What the log cannot hold at all (value_problems) the
service refuses at the request.
"""

from __future__ import annotations

import collections
import logging
import math
import os
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

from driftline.core.task import Task
from driftline.schema import Schema
from driftline.serving.answers import answer_columns
from driftline.serving.dead_letters import DeadLetters, Written, described, write_isolating

log = logging.getLogger(__name__)

URL_VARIABLE = "DRIFTLINE_LOG_URL"
DEAD_LETTERS_VARIABLE = "DRIFTLINE_DEAD_LETTERS"
INT64 = (-(2**63), 2**63 - 1)  # what an int64 column holds; orjson refuses a whole batch for one integer beyond
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
DATETIME_COLUMNS = tuple(column.name for column in PREDICTIONS.columns if isinstance(column.type, DateTime))
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


def dead_letter_path(configured: str, root: Path = Path(".")) -> Path:
    """The dead-letter file: DRIFTLINE_DEAD_LETTERS if set, else CONFIGURED; a relative path is under ROOT."""
    path = Path(os.environ.get(DEAD_LETTERS_VARIABLE) or configured)
    return path if path.is_absolute() else (root / path).resolve()


def dead_letter_file(path: Path) -> DeadLetters:
    """The log's dead-letter file at PATH: its rows' times read back as datetimes, as the log's columns take them."""
    return DeadLetters(path, DATETIME_COLUMNS)


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


def value_problems(columns: dict[str, list], max_text_chars: int) -> list[str]:
    """What the log could not store as it was scored, in COLUMNS (a request's records, column by column), one
    line per value naming it (`records[3].age: ...`): numbers that are not finite (JSON has none, so the log
    would hold null), integers beyond 64 bits (orjson refuses them) and texts longer than MAX_TEXT_CHARS."""
    problems = []
    for name, values in columns.items():
        for n, value in enumerate(values):
            if isinstance(value, float) and not math.isfinite(value):
                problems.append(f"records[{n}].{name}: {value} is not a finite number")
            elif isinstance(value, int) and not INT64[0] <= value <= INT64[1]:
                problems.append(f"records[{n}].{name}: an integer beyond 64 bits")
            elif isinstance(value, str) and len(value) > max_text_chars:
                problems.append(f"records[{n}].{name}: {len(value)} characters, more than {max_text_chars}")
    return problems


def _json(value) -> str:
    return orjson.dumps(value).decode()  # several times faster than json.dumps: the writer shares the GIL


def utc_now() -> datetime:
    """Now, in UTC, without a zone: how the log stores times."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class InferenceLog:
    """Rows appended by the service are written by a background thread, in batches, in one transaction each.

    `append` never blocks and never raises. An outage (is_outage: the database unreachable, locked or full) keeps
    the batch, counts the failed write and retries; only beyond MAX_PENDING rows are the oldest dropped, and
    counted. Rows that the database refuses are isolated (write_isolating): the batch's other rows are written
    and the refused ones go to the dead-letter file DEAD_LETTERS, so that one bad row never holds up the rest.
    Rows are lost only where that file cannot take them either (or there is none): they are counted, and the
    service is then not ready. `flush` waits until what was appended is written or dead-lettered; `tried` only
    until the writer has tried again (an outage's failed try too); `close` flushes, dead-letters what an outage
    still holds when its time is up, and stops (the service's shutdown).
    """

    def __init__(self, url: str, batch_rows: int = 5000, interval_s: float = 0.1, retry_s: float = 1.0,
                 max_pending: int = 1_000_000, dead_letters: Path | None = None):
        self.url, self.batch_rows, self.interval_s, self.retry_s = url, batch_rows, interval_s, retry_s
        self.max_pending = max_pending
        self.dead_letters = dead_letter_file(dead_letters) if dead_letters else None
        self.pending: collections.deque[dict] = collections.deque()
        self.counts = {"written": 0, "failed_writes": 0, "dropped": 0, "dead_lettered": 0, "lost": 0}
        self.last_error: str | None = None
        self._engine: Engine | None = None
        self._taken = 0  # rows the writer holds: neither pending nor written yet
        self._tries = 0  # writes tried so far, whatever came of them
        self._settled = threading.Condition()  # flush waits on it; the writer notifies after each batch
        self._closing = threading.Event()
        self._deadline = float("inf")  # when close stops retrying an outage
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
        return self.counts | {"pending": len(self.pending) + self._taken, "last_error": self.last_error,
                              "dead_letter_file": str(self.dead_letters.path) if self.dead_letters else None}

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every row appended so far is written, dead-lettered or lost; False if TIMEOUT_S passed
        first (an outage keeps rows pending until it ends, or until close)."""
        with self._settled:
            return self._settled.wait_for(lambda: not self.pending and not self._taken, timeout_s)

    def tried(self, timeout_s: float | None = None) -> bool:
        """Wait until a write that began after this call has ended (written, refused or failed on an outage), or
        nothing is pending; False if TIMEOUT_S passed first."""
        with self._settled:
            target = self._tries + (2 if self._taken else 1)  # a write under way began before this call
            return self._settled.wait_for(lambda: self._tries >= target or not (self.pending or self._taken),
                                          timeout_s)

    def close(self, timeout_s: float = 10) -> dict:
        """Write what is pending (retrying an outage until TIMEOUT_S, within the server's shutdown grace), put what
        is still unwritten in the dead-letter file, and stop; returns the final counts."""
        self._deadline = time.monotonic() + timeout_s
        self._closing.set()
        self._thread.join(timeout_s + self.retry_s + 1)
        if self.pending or self._taken:
            log.error("inference log: %d rows could not be written to %s: %s", len(self.pending) + self._taken,
                      self._shown(), self.last_error)
        if self._engine is not None:
            self._engine.dispose()
        return self.status()

    def _shown(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def _run(self) -> None:
        while True:
            closing = self._closing.wait(self.interval_s)
            while self.pending and self._write():
                pass
            if closing and (not self.pending or time.monotonic() >= self._deadline):
                self._set_aside(self._take(len(self.pending)), self.last_error)
                return
            if self.pending:  # an outage: wait before the retry, but not past close's deadline
                time.sleep(max(0.0, min(self.retry_s, self._deadline - time.monotonic())))

    def _take(self, count: int) -> list[dict]:
        with self._settled:
            self._taken = min(count, len(self.pending))
            return [self.pending.popleft() for _ in range(self._taken)]

    def _write(self) -> bool:
        """Write the next batch; False on an outage, whose rows go back to the front of the queue, in order."""
        batch = self._take(self.batch_rows)
        try:
            if self._engine is None:
                self._engine = connect(self.url)
            done = write_isolating(self._engine, PREDICTIONS, batch)
        except Exception as exc:  # noqa: BLE001 - connect's own errors: the writer must not die
            done = Written(unwritten=batch, outage=described(exc))
        self.counts["written"] += done.written
        if done.refused:
            self.last_error = done.refused[-1][1]
            self._dead_letter(done.refused)
        if done.unwritten:
            self.pending.extendleft(reversed(done.unwritten))
            self.counts["failed_writes"] += 1
            self.last_error = done.outage
        self._settle(tried=True)
        return not done.unwritten

    def _set_aside(self, rows: list[dict], error: str | None) -> None:
        """ROWS that an outage kept until close, to the dead-letter file with ERROR."""
        if rows:
            self._dead_letter([(row, f"unwritten at shutdown: {error}") for row in rows])
        self._settle()

    def _dead_letter(self, refused: list[tuple[dict, str]]) -> None:
        if self.dead_letters is None:
            self._lose(refused, "no dead-letter file was given")
            return
        try:
            self.dead_letters.append(refused)
        except OSError as exc:
            self._lose(refused, described(exc))
            return
        self.counts["dead_lettered"] += len(refused)

    def _lose(self, refused: list[tuple[dict, str]], why: str) -> None:
        """REFUSED rows that the dead-letter file could not take either: counted, and said loudly."""
        self.counts["lost"] += len(refused)
        self.last_error = f"{len(refused)} rows lost ({refused[-1][1]}); the dead-letter file: {why}"
        log.error("inference log: %s", self.last_error)

    def _settle(self, tried: bool = False) -> None:
        with self._settled:
            self._taken = 0
            self._tries += tried
            self._settled.notify_all()


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
