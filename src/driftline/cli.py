"""`driftline`: run the pipeline, ingest a batch, score, serve and monitor. Run it from the project root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from driftline.artifacts import package_info
from driftline.config import load_params
from driftline.errors import ConfigError, ContractError, DataError, IngestError, MonitorError, StageFailed

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
console = Console(stderr=True)
ROOT = Path(".")
EXAMPLE_BATCH = "examples/batch.csv"


@contextmanager
def reported(action: str) -> Iterator[None]:
    """Show a spinner; turn known failures, and any I/O error, into one red message and exit code 1."""
    try:
        with console.status(f"{action}..."):
            yield
    except (ConfigError, DataError, ContractError, IngestError, StageFailed, MonitorError, OSError) as exc:
        console.print(f"[red]{action} failed:[/red] {exc}", highlight=False, markup=False)
        raise typer.Exit(1) from None


@app.command()
def run(batch: str = typer.Option(EXAMPLE_BATCH, help="CSV batch for the monitoring flow")) -> None:
    """Run the training flow (every dvc.yaml stage), then the monitoring flow on BATCH; print a summary."""
    sys.path.insert(0, str(Path("flows").resolve()))
    from monitoring import monitoring
    from training import training

    table = Table("stage", "status", "seconds", "key figure", title="driftline run")
    with reported("training flow"):
        runs = training(root=str(ROOT))
    for r in runs:
        table.add_row(r.stage, r.status, f"{r.seconds:.1f}", r.key_figure)
    with reported("monitoring flow"):
        started = time.perf_counter()
        summary = monitoring(batch=batch, root=str(ROOT))
    drift = f"dataset_drift={summary['dataset_drift']} drifted={summary['drifted_columns']}"
    table.add_row("monitor", "ran", f"{time.perf_counter() - started:.1f}", drift)
    Console().print(table)
    Console().print(
        "Reports: metrics/ (dvc metrics show), artifacts/validate/docs/index.html (Data Docs), "
        f"artifacts/audit/ (SHAP, fairness), {summary['report']} (drift)"
    )


@app.command()
def ingest(source: str = typer.Argument(..., help="CSV with a header row: path or fsspec URL")) -> None:
    """Validate a batch and add it to the training data as a new DVC version, or quarantine it."""
    from driftline import ingest as ingestion

    with reported(f"ingest {ingestion.shown(source)}"):
        result = ingestion.run(source, load_params(), ROOT)
    if result["dropped_known_rows"]:
        console.print(f"dropped {result['dropped_known_rows']} rows already stored in the data")
    console.print(f"[green]ingested[/green] {result['rows']} new rows into {result['path']}; "
                  f"run `dvc repro` to retrain, then commit {result['pointer']}")


@app.command()
def predict(
    source: str = typer.Argument(..., help="CSV of records (the target column may be absent)"),
    output: Path = typer.Option(..., "-o", "--output", help="where to write rows + probability + label"),
) -> None:
    """Score a CSV with the packaged model (read with the missing-value rule stored with the model)."""
    from driftline.data import read_csv
    from driftline.package import packaged_predictor

    with reported(f"predict {source}"):
        predictor = packaged_predictor(package_info(ROOT))
        scored = predictor.score(read_csv(source, predictor.schema, predictor.na_values))
        output.parent.mkdir(parents=True, exist_ok=True)
        scored.to_csv(output, index=False)
    console.print(f"wrote {len(scored)} scored rows to {output}")


@app.command()
def serve(port: int = typer.Option(3000, help="port on 127.0.0.1")) -> None:
    """Serve the packaged bento on 127.0.0.1 (POST /predict, GET /healthz)."""
    info = package_info(ROOT)
    if not info.is_file():
        console.print(f"[red]{info} not found:[/red] run `make run` or `dvc repro` first")
        raise typer.Exit(1)
    bento = json.loads(info.read_text())["bento_tag"]
    command = [sys.executable, "-m", "bentoml", "serve", bento, "--host", "127.0.0.1", "--port", str(port)]
    raise typer.Exit(subprocess.call(command, env=os.environ.copy()))


@app.command()
def monitor(
    current: str = typer.Argument(..., help="CSV batch to compare with the training data"),
    as_json: bool = typer.Option(False, "--json", help="print the JSON summary to stdout"),
) -> None:
    """Evidently drift report of a batch (features and predictions) against the training split."""
    from driftline.monitor import monitor_batch, summary_markdown

    with reported(f"monitor {current}"):
        summary = monitor_batch(current, load_params(), ROOT)
    if as_json:
        typer.echo(json.dumps(summary, indent=1))
    else:
        Console().print(summary_markdown(summary))
