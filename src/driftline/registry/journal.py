"""How registry.json and history.jsonl change together, so that no crash and no second writer leaves them
disagreeing.

registry.json carries `revision` (bumped by every write) and `history_lines` (how many lines of history.jsonl it
has committed: lines, not bytes, so that a checkout that turns line ends into CRLF changes nothing). A write holds
`registry.json.lock` (filelock) and:

1. reads registry.json again, and cuts history.jsonl back to its committed lines, keeping what lay past them (the
   lines of a write that died between steps 2 and 3) in `history.jsonl.uncommitted`;
2. appends its history lines, flushed and fsynced;
3. copies registry.json to `registry.json.bak` (the last good copy) and replaces registry.json atomically (a
   temporary file renamed over it) with the new state, `revision` + 1 and the new `history_lines`.

Readers take no lock (store.py reads): registry.json is always whole, and they read only the committed lines of
history.jsonl. A registry written before these fields existed still loads: its history is every whole line that
parses (a torn last line is left out, with a warning), and its first write here records both fields.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from driftline.core.artifacts import write_json
from driftline.core.failpoints import failpoint
from driftline.errors import RegistryError
from driftline.registry.store import BACKUP, HISTORY, STATE, UNCOMMITTED, read_state

LOCK = "registry.json.lock"
LOCK_TIMEOUT_S = 120  # a write holds the lock for milliseconds; this long means a writer is stuck
log = logging.getLogger(__name__)


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold the registry's lock (created with the folder where there is none yet)."""
    directory.mkdir(parents=True, exist_ok=True)
    lock = FileLock(directory / LOCK, timeout=LOCK_TIMEOUT_S, poll_interval=0.01)
    try:
        lock.acquire()
    except Timeout:
        raise RegistryError(f"another driftline process has held {directory / LOCK} for {LOCK_TIMEOUT_S} s: "
                            "wait for it, or end it if it hangs") from None
    try:
        yield
    finally:
        lock.release()


def set_aside(directory: Path, end: int) -> None:
    """Cut history.jsonl back to END, where its committed lines end, appending what lay past it to
    history.jsonl.uncommitted (and saying so in the log). Only a writer holding the lock may."""
    path = directory / HISTORY
    with path.open("r+b") as history:
        history.seek(end)
        tail = history.read()
        with (directory / UNCOMMITTED).open("ab") as aside:
            aside.write(tail if tail.endswith(b"\n") else tail + b"\n")
            aside.flush()
            os.fsync(aside.fileno())
        history.truncate(end)
        history.flush()
        os.fsync(history.fileno())
    log.warning("%s: set aside %d byte(s) that registry.json never committed (a write that did not finish) in %s",
                path, len(tail), directory / UNCOMMITTED)


def append(directory: Path, records: list[dict]) -> None:
    """Append RECORDS to history.jsonl, on disk (fsync) before anything commits them."""
    with (directory / HISTORY).open("ab") as history:
        history.write("".join(json.dumps(record) + "\n" for record in records).encode("utf-8"))
        history.flush()
        os.fsync(history.fileno())


def commit(directory: Path, state: dict, records: list[dict], revision: int, lines: int) -> dict:
    """Write RECORDS and STATE as one change (steps 2 and 3 above) to a registry read at REVISION, with LINES
    history lines committed; the state as written. Holding the lock, registry.json can only have changed under a
    writer that does not take it: then nothing is written."""
    on_disk = read_state(directory)
    if on_disk.get("revision", 0) != revision:
        raise RegistryError(f"{directory / STATE} changed under this write (revision {revision} read, "
                            f"{on_disk.get('revision', 0)} now) by a writer that does not take {LOCK} (an older "
                            "driftline, an edit by hand): nothing was written; run the command again")
    if records:
        append(directory, records)
    failpoint("registry.appended")
    written = {"revision": revision + 1, "history_lines": lines + len(records)} | state
    if on_disk:
        write_json(directory / BACKUP, on_disk)
    write_json(directory / STATE, written)
    return written
