"""Rows a database refuses, kept apart: a batch is bisected until each refused row is alone (write_isolating), and
the refused ones go to a dead-letter file of JSON lines (DeadLetters) that a replay writes back later.

An outage (the database takes no row now) is told apart from a refusal (it will never take these rows): an
outage's batch is kept whole for a retry, never split or set aside.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock
from sqlalchemy import Table
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from driftline.core.artifacts import json_default
from driftline.errors import DeadLetterError

# The database cannot take any row now (unreachable, locked, full, a broken folder), as opposed to refusing these
# rows: such a batch is kept and retried, not split.
OUTAGES = (OSError, OperationalError, InterfaceError, DisconnectionError, PoolTimeout)


def described(exc: BaseException) -> str:
    """An error in one line: its type and the first line of its message."""
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]}"


def is_outage(exc: BaseException) -> bool:
    """Whether EXC says that the database takes no row now (OUTAGES, or a connection it dropped) rather than that
    it refuses these rows (a value, a constraint, a serialisation error)."""
    return isinstance(exc, OUTAGES) or bool(getattr(exc, "connection_invalidated", False))


@dataclass
class Written:
    """What write_isolating did with rows: how many it wrote, the rows the database refused (each with its
    error), and the rows an outage left unwritten, in order, with the outage."""

    written: int = 0
    refused: list[tuple[dict, str]] = field(default_factory=list)
    unwritten: list[dict] = field(default_factory=list)
    outage: str | None = None


def write_isolating(engine: Engine, table: Table, rows: list[dict]) -> Written:
    """Insert ROWS into TABLE in one transaction; where the database refuses them, split them in halves (bisect) until
    each refused row is alone, writing every part it takes. An outage stops there, with what is left."""
    done, parts = Written(), [rows]
    while parts:
        part = parts.pop()
        try:
            with engine.begin() as connection:
                connection.execute(table.insert(), part)
        except Exception as exc:  # noqa: BLE001 - an outage or these rows: either way the writer goes on
            if is_outage(exc):
                done.unwritten = part + [row for rest in reversed(parts) for row in rest]
                done.outage = described(exc)
                return done
            if len(part) == 1:
                done.refused.append((part[0], described(exc)))
            else:
                middle = len(part) // 2
                parts += [part[middle:], part[:middle]]  # the first half next: rows keep their order
            continue
        done.written += len(part)
    return done


class DeadLetters:
    """The rows the log's database refused, one JSON line each: {"time", "error", "row"}.

    Written by the json module, which holds what the database could not (integers beyond 64 bits), with times
    as text that datetime.fromisoformat reads back; each append is synced to disk, since the rows are nowhere
    else. A lock file beside it keeps the service's appends and a replay's rewrite apart.
    """

    def __init__(self, path: Path, time_fields: tuple[str, ...] = ()):
        self.path, self.time_fields = Path(path), time_fields  # TIME_FIELDS: read back as datetimes
        self.lock = FileLock(f"{self.path}.lock")

    def append(self, refused: list[tuple[dict, str]]) -> None:
        """Add REFUSED rows with their errors; OSError where the disk refuses."""
        now = datetime.now(timezone.utc).replace(tzinfo=None).isoformat()
        text = "".join(json.dumps({"time": now, "error": error, "row": row}, default=json_default) + "\n"
                       for row, error in refused)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock, self.path.open("a") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())

    def read(self) -> list[dict]:
        """The dead letters, oldest first, each row as it was appended (its times as datetimes again)."""
        if not self.path.is_file():
            return []
        with self.lock:
            lines = self.path.read_text().splitlines()
        return [self._entry(line, number) for number, line in enumerate(lines, 1) if line.strip()]

    def _entry(self, line: str, number: int) -> dict:
        try:
            entry = json.loads(line)
            entry["row"] |= {name: datetime.fromisoformat(entry["row"][name]) for name in self.time_fields
                             if isinstance(entry["row"].get(name), str)}
        except (ValueError, TypeError, KeyError) as exc:
            raise DeadLetterError(f"{self.path}, line {number}, is not a dead letter ({described(exc)}): a write "
                                  "cut short by a full disk leaves such a line; mend or delete it") from None
        return entry

    def rewrite(self, entries: list[dict]) -> None:
        """Replace the file with ENTRIES, atomically (a temporary file renamed over it). The lock is reentrant:
        hold it across the read that ENTRIES came from, so that no append falls between."""
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with self.lock:
            try:
                temporary.write_text("".join(json.dumps(entry, default=json_default) + "\n" for entry in entries))
                os.replace(temporary, self.path)
            finally:
                temporary.unlink(missing_ok=True)

