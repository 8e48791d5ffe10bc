"""Replaying the inference log's dead letters (serving.dead_letters): once whatever made the database refuse
them is mended, `driftline log replay` writes them again; the ones it still refuses stay in the file."""

from __future__ import annotations

from pathlib import Path

from driftline.serving.dead_letters import OUTAGES, described, write_isolating
from driftline.serving.log import PREDICTIONS, connect, dead_letter_file


def replay(url: str, path: Path) -> dict:
    """Write the dead letters at PATH to the log at URL as the service writes rows (write_isolating): those the
    database takes leave the file; those it refuses stay with their new error, and all that an outage left stay
    as they were. The file is rewritten atomically under its lock, so the dead letters a running service adds
    meanwhile are kept. Returns the counts: replayed, written, refused, unwritten, and the outage (or None)."""
    letters = dead_letter_file(path)
    with letters.lock:
        entries = letters.read()
        counts = {"file": str(path), "replayed": len(entries), "written": 0, "refused": 0, "unwritten": 0,
                  "outage": None}
        if not entries:
            return counts
        try:
            engine = connect(url)
        except OUTAGES as exc:
            return counts | {"unwritten": len(entries), "outage": described(exc)}
        try:
            done = write_isolating(engine, PREDICTIONS, [entry["row"] for entry in entries])
        finally:
            engine.dispose()
        errors = {id(row): error for row, error in done.refused}
        unwritten = {id(row) for row in done.unwritten}
        letters.rewrite([entry | {"error": errors.get(id(entry["row"]), entry["error"])} for entry in entries
                         if id(entry["row"]) in errors or id(entry["row"]) in unwritten])
    return counts | {"written": done.written, "refused": len(done.refused), "unwritten": len(done.unwritten),
                     "outage": done.outage}
