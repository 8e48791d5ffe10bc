"""How every benchmark records a run: benchmarks/results/<name>.json, which the docs' benchmarks page renders.

The contract (docs/hooks/benchmark_tables.py reads it; tests/unit/test_benchmarks.py checks it):

    {"benchmark": NAME, "commit": "<HEAD's sha>[-dirty]", "date": "<ISO 8601 UTC>",
     "machine": {"cores": int, "cpu": str, "platform": str},
     "tables": [{"title": str, "columns": [str, ...], "rows": [[cell, ...], ...], "note": str (optional)}]}

A cell is a JSON number, text, a boolean or null. "-dirty" means tracked files differed from HEAD when the
run was recorded. `publish` prints the tables and writes the file in one step; the write is atomic (a
temporary file beside it, then a rename: core.artifacts.write_json), so a reader never sees half a file.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from driftline.core.artifacts import git_state, write_json

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def commit(root: Path = REPO) -> str:
    """HEAD's sha, with "-dirty" when tracked files (staged or not) differ from it; "unknown" outside git."""
    sha, dirty = git_state(root)
    return "unknown" if sha is None else sha + ("-dirty" if dirty else "")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else platform.processor(), else "unknown"."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict:
    return {"cores": os.cpu_count(), "cpu": cpu_model(), "platform": platform.platform()}


def plain(value):
    """A cell as plain JSON: numpy scalars as their Python values, NaN and infinities as null (JSON has
    neither), anything else that is not JSON as text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if hasattr(value, "item"):
        return plain(value.item())
    return str(value)


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence], note: str | None = None) -> dict:
    """One table of the contract; every row must have one cell per column."""
    rows = [[plain(v) for v in row] for row in rows]
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"{title}: a row has {len(row)} cells for {len(columns)} columns: {row}")
    return {"title": title, "columns": list(columns), "rows": rows} | ({"note": note} if note else {})


def document(name: str, tables: list[dict], root: Path = REPO) -> dict:
    return {"benchmark": name, "commit": commit(root),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
            "tables": tables}


def write(name: str, tables: list[dict], directory: Path = RESULTS, root: Path = REPO) -> Path:
    """DIRECTORY/NAME.json for TABLES with the commit, date and machine, written atomically; its path."""
    path = directory / f"{name}.json"
    write_json(path, document(name, tables, root))
    return path


def cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
    return "-" if value is None else str(value)


def show(tables: list[dict], console: Console | None = None) -> None:
    """TABLES as rich tables on the terminal, each note under its table."""
    console = console or Console()
    for entry in tables:
        shown = Table(*entry["columns"], title=entry["title"])
        for row in entry["rows"]:
            shown.add_row(*(cell(v) for v in row))
        console.print(shown)
        if entry.get("note"):
            console.print(entry["note"], style="dim")


def publish(name: str, tables: list[dict], directory: Path = RESULTS) -> Path:
    """Print TABLES and record them as DIRECTORY/NAME.json."""
    show(tables)
    path = write(name, tables, directory)
    Console().print(f"wrote {path}")
    return path


def one_record_ms(predictor, features, calls: int = 300) -> float:
    """Median milliseconds of one record through PREDICTOR.predict_columns in process, on one torch thread (as the
    service runs), over CALLS calls on the first rows of the frame FEATURES, after 20 calls of warm-up."""
    rows = [{name: [value] for name, value in row.items()} for row in features.head(calls).to_dict(orient="records")]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for one in rows[:20]:
            predictor.predict_columns(one)
        times = []
        for one in rows:
            started = time.perf_counter()
            predictor.predict_columns(one)
            times.append(time.perf_counter() - started)
    finally:
        torch.set_num_threads(threads)
    return 1000 * float(np.median(times))
