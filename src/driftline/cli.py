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
from rich.text import Text

from driftline.config import load_params
from driftline.errors import (
    ConfigError,
    ContractError,
    DataError,
    IngestError,
    MonitorError,
    RegistryError,
    StageFailed,
)

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
console = Console(stderr=True, soft_wrap=True, highlight=False)  # messages stay whole lines, greppable
ROOT = Path(".")
EXAMPLE_BATCH = "examples/batch.csv"


@contextmanager
def reported(action: str, spinner: bool = True) -> Iterator[None]:
    """Show a spinner; turn known failures, and any I/O error, into one red message and exit code 1."""
    try:
        if spinner:
            with console.status(f"{action}..."):
                yield
        else:
            yield
    except (ConfigError, DataError, ContractError, IngestError, StageFailed, MonitorError, RegistryError,
            OSError) as exc:
        console.print(Text.assemble((f"{action} failed: ", "red"), str(exc)))
        raise typer.Exit(1) from None


def show_release(result: dict) -> bool:
    """Print the gate's table and what happened to the version; True when the gate refused a new model."""
    blessing = result["blessing"]
    table = Table("check", "value", "threshold", "passed", title=f"gate: blessed={blessing['blessed']}")
    for c in blessing["checks"]:
        value = "" if c["value"] is None else f"{c['value']:.4f}"
        table.add_row(c["name"], value, c["threshold"], "yes" if c["passed"] else "[red]NO[/red]")
    Console().print(table)
    outcome = "promoted to champion" if result["promoted"] else (
        "new, not promoted: the champion is unchanged" if result["new"] else "already registered: nothing moved")
    console.print(f"version {result['version']}: {outcome}")
    return result["new"] and not result["promoted"]


@app.command()
def run(batch: str = typer.Option(EXAMPLE_BATCH, help="CSV batch for the monitoring flow")) -> None:
    """Run the training flow (every dvc.yaml stage, then the release), then the monitoring flow on BATCH."""
    sys.path.insert(0, str(Path("flows").resolve()))
    from monitoring import monitoring
    from training import training

    table = Table("stage", "status", "seconds", "key figure", title="driftline run")
    with reported("training flow", spinner=False):  # the flow prints each stage as it starts and ends
        result = training(root=str(ROOT))
    for r in result["stages"]:
        table.add_row(r.stage, r.status, f"{r.seconds:.1f}", r.key_figure)
    release = result["release"]
    refused = show_release(release)
    with reported("monitoring flow"):
        started = time.perf_counter()
        summary = monitoring(batch=batch, root=str(ROOT))
    drift = f"dataset_drift={summary['dataset_drift']} drifted={summary['drifted_columns']}"
    table.add_row("monitor", "ran", f"{time.perf_counter() - started:.1f}", drift)
    Console().print(table)
    Console().print(
        "Reports: reports/index.html (every run), metrics/ (dvc metrics show), "
        f"registry/cards/{release['version']}.md (model card), {summary['report']} (drift)"
    )
    if refused:
        raise typer.Exit(2)  # the candidate failed the gate: say so in the exit status


@app.command()
def release() -> None:
    """Register the packaged model, gate it, check its bento serves, write its card; promote it if blessed."""
    from driftline.registry.release import release as release_model

    with reported("release"):
        result = release_model(load_params(), ROOT)
    if show_release(result):
        raise typer.Exit(2)


@app.command()
def models(as_json: bool = typer.Option(False, "--json", help="print one JSON object per version")) -> None:
    """The registered versions: lineage, metrics, fairness gaps, gate verdict and aliases."""
    from driftline.registry.store import Registry

    with reported("models", spinner=False):
        registry = Registry(ROOT / load_params().registry.dir)
    rows = [e | {"aliases": registry.aliases_of(e["version"])} for e in reversed(registry.versions)]
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    table = Table("version", "created", "data", "AUC", "baseline AUC", "max parity gap", "max odds gap", "gate",
                  "aliases", "card", title="driftline models")
    for e in rows:
        gaps = e["fairness"]
        parity = max((v for k, v in gaps.items() if k.endswith("demographic_parity_difference")), default=0)
        odds = max((v for k, v in gaps.items() if k.endswith("equalized_odds_difference")), default=0)
        verdict = "blessed" if e["blessed"] else "refused: " + ", ".join(e["failed_checks"])
        table.add_row(e["version"], e["created"], (e["data_version"] or "")[:8], f"{e['metrics']['roc_auc']:.4f}",
                      f"{e['baseline_roc_auc']:.4f}", f"{parity:.3f}", f"{odds:.3f}", verdict,
                      ", ".join(e["aliases"]), e["card"])
    Console(width=200).print(table)


@app.command()
def promote(
    version: str = typer.Argument(..., help="a version from `driftline models`"),
    force: bool = typer.Option(False, "--force", help="promote even though the gate refused it"),
    reason: str = typer.Option(None, "--reason", help="why (required with --force); kept in the history"),
) -> None:
    """Make VERSION the champion (blessed versions only, unless --force --reason)."""
    from driftline.registry.release import promote as promote_version

    with reported(f"promote {version}"):
        record = promote_version(load_params(), version, ROOT, force, reason)
    console.print(f"champion: {record['from']} -> {record['to']} ({record['reason']})")


@app.command()
def rollback(reason: str = typer.Option("rollback", "--reason", help="kept in the history")) -> None:
    """The champion goes back to the previous champion."""
    from driftline.registry.release import rollback as rollback_champion

    with reported("rollback"):
        record = rollback_champion(load_params(), ROOT, reason)
    console.print(f"champion: {record['from']} -> {record['to']} ({record['reason']})")


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
    model: str = typer.Option("champion", help="a version or an alias"),
) -> None:
    """Score a CSV with the champion (read with the missing-value rule stored with the model)."""
    from driftline.data import read_csv
    from driftline.package import predictor_for

    with reported(f"predict {source}"):
        _, predictor = predictor_for(load_params(), ROOT, model)
        scored = predictor.score(read_csv(source, predictor.schema, predictor.na_values))
        output.parent.mkdir(parents=True, exist_ok=True)
        scored.to_csv(output, index=False)
    console.print(f"wrote {len(scored)} scored rows to {output}")


@app.command()
def serve(
    port: int = typer.Option(3000, help="port on 127.0.0.1"),
    model: str = typer.Option("champion", help="a version or an alias"),
) -> None:
    """Serve the champion's bento on 127.0.0.1 (POST /predict, GET /healthz, GET /metadata).

    The service keeps the version it started with; /metadata says which one, and whether the registry's
    champion has moved since (restart to follow it).
    """
    from driftline.package import serving_bento

    with reported(f"serve {model}"):
        params = load_params()
        bento, entry = serving_bento(params, ROOT, model)
    env = os.environ | {"DRIFTLINE_REGISTRY": str((ROOT / params.registry.dir).resolve()),
                        "DRIFTLINE_VERSION": entry["version"], "DRIFTLINE_MODEL_TAG": entry["model_tag"]}
    command = [sys.executable, "-m", "bentoml", "serve", bento, "--host", "127.0.0.1", "--port", str(port)]
    raise typer.Exit(subprocess.call(command, env=env))


@app.command()
def monitor(
    current: str = typer.Argument(..., help="CSV batch to compare with the training data"),
    as_json: bool = typer.Option(False, "--json", help="print the JSON summary to stdout"),
    model: str = typer.Option("champion", help="a version or an alias"),
) -> None:
    """Evidently drift report of a batch (features and predictions) against the training split."""
    from driftline.monitor import monitor_batch, summary_markdown

    with reported(f"monitor {current}"):
        summary = monitor_batch(current, load_params(), ROOT, model)
    if as_json:
        typer.echo(json.dumps(summary, indent=1))
    else:
        Console().print(summary_markdown(summary))


@app.command()
def tune(
    trials: int = typer.Option(20, "--trials", min=1, help="finished trials the study should hold (a rerun tops up)"),
    timeout: float = typer.Option(None, "--timeout", min=1, help="stop starting trials after this many seconds"),
) -> None:
    """Optuna TPE search over the train params on the validation split; resumes an interrupted study.

    Needs the featurize stage's outputs (`dvc repro featurize`). Writes best.yaml and importance.png to
    params.yaml's tune.dir and prints the `dvc exp run` line that trains the best trial as an experiment.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from driftline.tune import tune as search

    with reported("tune", spinner=False):
        params = load_params()
        with Progress(TextColumn("tune"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress:
            bar = progress.add_task("trials", total=trials)
            result = search(params, ROOT, trials, timeout, lambda done: progress.update(bar, completed=done))
    console.print(f"best: trial {result['best_trial']} of {result['finished']}, validation ROC AUC "
                  f"{result['best_val_auc']:.5f}; wrote {params.tune.dir / 'best.yaml'}")
    typer.echo(result["command"])
