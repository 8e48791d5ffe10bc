"""Benchmark results: every recorded file keeps the contract the docs render, and the one helper writes it.

Nothing here is timed: the benchmarks themselves are run by hand (docs/benchmarks.md).
"""

import importlib.util
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from benchmarks import record

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
SHA = re.compile(r"^([0-9a-f]{40}(-dirty)?|unknown)$")


def problems(result) -> list[str]:
    """What in RESULT breaks the results contract (benchmarks/record.py); empty when nothing does."""
    if not isinstance(result, dict):
        return ["not an object"]
    found = []
    if set(result) != {"benchmark", "commit", "date", "machine", "tables"}:
        found.append(f"top-level keys {sorted(result)}")
        return found
    if not isinstance(result["benchmark"], str) or not result["benchmark"]:
        found.append("benchmark is not a name")
    if not isinstance(result["commit"], str) or not SHA.match(result["commit"]):
        found.append(f"commit {result['commit']!r}")
    try:
        date = datetime.fromisoformat(result["date"])
        if date.utcoffset() != timedelta(0):
            found.append(f"date {result['date']} is not UTC")
    except (TypeError, ValueError):
        found.append(f"date {result['date']!r} is not ISO 8601")
    machine = result["machine"]
    if not isinstance(machine, dict) or set(machine) != {"cores", "cpu", "platform"}:
        found.append(f"machine {machine!r}")
    else:
        if type(machine["cores"]) is not int or machine["cores"] < 1:
            found.append(f"cores {machine['cores']!r}")
        found += [f"{key} {machine[key]!r}" for key in ("cpu", "platform")
                  if not isinstance(machine[key], str) or not machine[key]]
    if not isinstance(result["tables"], list) or not result["tables"]:
        return found + ["no tables"]
    for n, entry in enumerate(result["tables"]):
        where = f"table {n}"
        if not isinstance(entry, dict) or not {"title", "columns", "rows"} <= set(entry) <= {
                "title", "columns", "rows", "note"}:
            found.append(f"{where}: keys {sorted(entry) if isinstance(entry, dict) else entry!r}")
            continue
        if not isinstance(entry["title"], str) or not entry["title"]:
            found.append(f"{where}: title")
        if "note" in entry and not (isinstance(entry["note"], str) and "\n" not in entry["note"]):
            found.append(f"{where}: note is not one line of text")
        columns, rows = entry["columns"], entry["rows"]
        if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
            found.append(f"{where}: columns {columns!r}")
            continue
        if not isinstance(rows, list):
            found.append(f"{where}: rows is not a list")
            continue
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != len(columns):
                found.append(f"{where} row {i}: {row!r} for {len(columns)} columns")
            elif not all(v is None or isinstance(v, (bool, int, float, str)) for v in row):
                found.append(f"{where} row {i}: a cell is not a number, text, boolean or null: {row!r}")
    return found


@pytest.mark.parametrize("path", sorted(RESULTS.glob("*.json")), ids=lambda p: p.name)
def test_each_recorded_result_keeps_the_contract(path):
    result = json.loads(path.read_text())
    assert problems(result) == []
    assert result["benchmark"] == path.stem


def test_the_helper_writes_a_well_formed_file(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "commit", lambda root: "0123456789" * 4)  # git's answer: tests/integration
    tables = [record.table("a table", ["name", "value", "ratio"],
                           [["x", 1, 0.5], ["y", None, float("nan")], ["z", True, 2.0]], note="one line"),
              record.table("no note", ["only"], [])]
    path = record.write("example", tables, tmp_path / "results")

    assert path == tmp_path / "results" / "example.json"
    assert [p.name for p in path.parent.iterdir()] == ["example.json"]  # no temporary file left beside it
    result = json.loads(path.read_text())
    assert problems(result) == []
    assert result["benchmark"] == "example"
    assert result["tables"][0]["rows"][1] == ["y", None, None]  # NaN is not JSON: recorded as null
    assert "note" not in result["tables"][1]
    assert result["commit"] == "0123456789" * 4


def test_a_row_must_have_a_cell_per_column():
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        record.table("t", ["a", "b", "c"], [[1, 2]])


def test_the_serve_benchmark_reports_shadow_against_single_model_serving(monkeypatch):
    monkeypatch.setattr(record, "commit", lambda root: "0123456789" * 4)  # git's answer: tests/integration
    spec = importlib.util.spec_from_file_location("benchmark_serve", ROOT / "benchmarks" / "serve.py")
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)

    def figures(rate: float, p99: float) -> dict:
        return {"requests_per_s": rate, "p50_ms": p99 / 2, "p99_ms": p99, "errors": 0, "server_cpu_ms": 1000 / rate,
                "client_cpu_ms": 0.2, "wall_ms": 1000 / rate, "rounds_per_s": [rate]}

    measured = {serve.SINGLE: figures(1000, 40), "driftline, log off": figures(1100, 38),
                serve.SHADOW: figures(800, 50), "floor (no model work)": figures(1500, 30)}
    tables = serve.tables(measured, 32, 100, 1, 1600.0, {serve.SINGLE: True, serve.SHADOW: True})
    shadow = next(t for t in tables if t["title"].startswith("Shadow against single-model serving"))
    assert shadow["rows"][-1] == ["shadow / single", 0.8, 1.25, 1.25, None, 1.25]
    assert "p99 is 1.25x and its throughput 0.80x" in shadow["note"]
    checks = dict(next(t for t in tables if t["title"] == "Checks")["rows"])
    assert checks[f"goal: shadow p99 <= {serve.SHADOW_P99} x single-model p99, 0 errors, every answered record "
                  "logged in both arms"] is True
    assert problems(record.document("serve", tables)) == []
