"""Commands around the whole project: `init` its schema, `run` the flows, `tune` the model."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Literal

import typer
from rich.console import Console
from rich.table import Table

from driftline.cli.common import ROOT, app, console, reported, show_release
from driftline.config import load_params
from driftline.core.verbosity import quiet, verbose
from driftline.schema import InitTask

EXAMPLE_BATCH = "examples/batch.csv"



@app.command()
def init(
    source: Path = typer.Argument(..., help="CSV with a header row, as the data under data/ will be"),
    target: str = typer.Option(..., "--target", help="the column to predict"),
    positive: str = typer.Option(None, "--positive", help="binary tasks: the target's positive label, as spelt in "
                                                          "the data"),
    task: InitTask = typer.Option(None, "--task", help="binary, multiclass, regression or count (a regression of "
                                                       "non-negative integers), when the target's values do not say "
                                                       "(numbers with a few distinct values)"),
    sensitive: list[str] = typer.Option([], "--sensitive", help="a column to audit for fairness (repeatable)"),
    category: list[str] = typer.Option([], "--category", help="a numeric column that holds codes (repeatable)"),
    force: bool = typer.Option(False, "--force", help="replace a schema that already declares columns"),
    params_file: Path = typer.Option(Path("params.yaml"), "--params", help="the params.yaml to write"),
) -> None:
    """Infer params.yaml's schema from SOURCE (the task, types, ranges, categories, missing shares, sensitive
    bands).

    Writes the `schema:` section, the task's `gate:` checks, `validate.max_duplicate_share` and a `card:` section
    of placeholders for the model card (the release warns until they are written), keeping every other line as
    it is.
    """
    from driftline.core.profile import init as write_schema

    with reported(f"init {source}"):
        found = write_schema(source, params_file, target, positive, sensitive, category, force, task)
    schema = found["schema"]
    table = Table("column", "type", "values", "missing", "max_missing", "sensitive", title=f"driftline init {source}")
    for name, spec in schema["columns"].items():
        if spec["type"] == "category":
            listed = f"{len(spec['categories'])}: " + ", ".join(spec["categories"])
            values = listed if len(listed) <= 40 else listed[:39] + "…"  # the full list is in params.yaml
        else:
            values = f"{spec['min']} .. {spec['max']}"
        band = schema["sensitive"].get(name)
        if name == target:
            shown = f"target ({', '.join(filter(None, (schema['task'], schema['target_kind'])))})"
        else:
            shown = "" if band is None else str(band.get("bins", "groups"))
        table.add_row(name, spec["type"], values, f"{found['missing'][name]:.3f}", str(spec.get("max_missing", 0)),
                      shown)
    Console().print(table)
    counted = " of a count (the Poisson loss among its links)" if schema["target_kind"] == "count" else ""
    console.print(f"task: {schema['task']}{counted}; its gate: {json.dumps(found['gate'])}")
    console.print(f"wrote the schema of {len(schema['columns'])} columns, the gate and validate.max_duplicate_share "
                  f"{found['max_duplicate_share']} (observed {found['duplicate_share']:.3f}) to "
                  f"{params_file}; review it, then `dvc add data` and `dvc repro`")


@app.command()
def run(batch: str = typer.Option(EXAMPLE_BATCH, help="CSV batch for the monitoring flow")) -> None:
    """Run the training flow (every dvc.yaml stage, then the release), then the monitoring flow on BATCH."""
    # Without PREFECT_API_URL the flows start an ephemeral API server in this process. On a machine's first run
    # it migrates a new database first, which took longer than Prefect's 20 s default on 2 busy cores.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if not verbose():  # before Prefect is imported: it reads its level once
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from driftline.orchestration.flows import monitoring, training
    from driftline.registry.store import CHAMPION, Registry

    table = Table("stage", "status", "seconds", "key figure", title="driftline run")
    # the flow prints each stage as it ends; a failed one is our red line, not Prefect's traceback of it
    with reported("training flow", spinner=False), quiet("prefect", level=logging.CRITICAL):
        result = training(root=str(ROOT))
    for r in result["stages"]:
        table.add_row(r.stage, r.status, f"{r.seconds:.1f}", r.key_figure)
    release = result["release"]
    refused = show_release(release)
    report = None
    if CHAMPION in Registry(ROOT / load_params().registry.dir).aliases:
        with reported("monitoring flow"), quiet("prefect", level=logging.CRITICAL):
            started = time.perf_counter()
            summary = monitoring(batch=batch, root=str(ROOT))
        drift = f"dataset_drift={summary['dataset_drift']} drifted={summary['drifted_columns']}"
        table.add_row("monitor", "ran", f"{time.perf_counter() - started:.1f}", drift)
        report = f", {summary['report']} (drift)"
    else:  # the gate refused the first model: there is nothing to monitor
        table.add_row("monitor", "skipped", "", "no champion yet")
    Console().print(table)
    Console().print(
        "Reports: reports/index.html (every run), metrics/ (dvc metrics show), "
        f"registry/cards/{release['version']}.md (model card){report or ''}"
    )
    if refused:
        raise typer.Exit(2)  # the candidate failed the gate: say so in the exit status


@app.command()
def tune(
    trials: int = typer.Option(20, "--trials", min=1, help="finished trials the study should hold (a rerun tops up)"),
    timeout: float = typer.Option(None, "--timeout", min=1, help="stop starting trials after this many seconds"),
    member: Literal["deep", "boost"] = typer.Option("deep", "--member", help=(
        "deep: the network's train params; boost: the boosters' boost params")),
) -> None:
    """Optuna TPE search over one member's params on the validation split; resumes an interrupted study.

    Needs the featurize stage's outputs (`dvc repro featurize`). Writes best.yaml (best-boost.yaml for the
    boosters) and importance.png to params.yaml's tune.dir and prints the `dvc exp run` line that trains the
    best trial as an experiment.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from driftline.orchestration.tune import tune as search

    with reported("tune", spinner=False):
        params = load_params()
        with Progress(TextColumn("tune"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress:
            bar = progress.add_task("trials", total=trials)
            result = search(params, ROOT, trials, timeout, lambda done: progress.update(bar, completed=done),
                            member)
    console.print(f"best: trial {result['best_trial']} of {result['finished']}, {result['metric']} "
                  f"{result['best_value']:.5f}; wrote {params.tune.dir / result['file']}")
    typer.echo(result["command"])
