"""Commands that bring data in: `ingest` a training batch, join late `labels` into the log."""

from __future__ import annotations

import typer

from driftline.cli.common import ROOT, app, console, reported
from driftline.config import load_params


@app.command(rich_help_panel="Data in")
def ingest(source: str = typer.Argument(..., help="CSV with a header row, gzipped or not: path or fsspec URL")) -> None:
    """Validate a batch and add it to the training data as a new DVC version, or quarantine it."""
    from driftline.core.sources import shown
    from driftline.stages import ingest as ingestion

    with reported(f"ingest {shown(source)}"):
        result = ingestion.run(source, load_params(), ROOT)
    if result["dropped_known_rows"]:
        console.print(f"dropped {result['dropped_known_rows']} rows already stored in the data")
    console.print(f"[green]ingested[/green] {result['rows']} new rows into {result['path']}; "
                  f"run `dvc repro` to retrain, then commit {result['pointer']}")


@app.command(rich_help_panel="Data in")
def labels(source: str = typer.Argument(..., help="CSV with the record id column and the target column")) -> None:
    """Join late ground truth into the inference log by record id (idempotent); unknown ids are reported."""
    from driftline.serving import labels as late_labels

    with reported(f"labels {source}"):
        result = late_labels.run(source, load_params(), ROOT)
    console.print(f"{result['rows']} label rows: {result['new']} new, {result['updated']} changed, "
                  f"{result['unchanged']} already known, {result['unknown']} unknown id(s)"
                  + (f" such as {result['unknown_ids'][:5]}" if result["unknown"] else ""))
