"""`driftline`: run the pipeline, ingest a batch, score, serve and monitor. Run it from the project root."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
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
def init(
    source: Path = typer.Argument(..., help="CSV with a header row, as the data under data/ will be"),
    target: str = typer.Option(..., "--target", help="the column to predict (exactly two values)"),
    positive: str = typer.Option(..., "--positive", help="the target's positive label, as spelt in the data"),
    sensitive: list[str] = typer.Option([], "--sensitive", help="a column to audit for fairness (repeatable)"),
    category: list[str] = typer.Option([], "--category", help="a numeric column that holds codes (repeatable)"),
    force: bool = typer.Option(False, "--force", help="replace a schema that already declares columns"),
    params_file: Path = typer.Option(Path("params.yaml"), "--params", help="the params.yaml to write"),
) -> None:
    """Infer params.yaml's schema from SOURCE (types, ranges, categories, missing shares, sensitive bands).

    Writes the `schema:` section and `validate.max_duplicate_share`, keeping every other line as it is.
    """
    from driftline.profile import init as write_schema

    with reported(f"init {source}"):
        found = write_schema(source, params_file, target, positive, sensitive, category, force)
    table = Table("column", "type", "values", "missing", "max_missing", "sensitive", title=f"driftline init {source}")
    for name, spec in found["schema"]["columns"].items():
        if spec["type"] == "category":
            listed = f"{len(spec['categories'])}: " + ", ".join(spec["categories"])
            values = listed if len(listed) <= 40 else listed[:39] + "…"  # the full list is in params.yaml
        else:
            values = f"{spec['min']} .. {spec['max']}"
        band = found["schema"]["sensitive"].get(name)
        shown = "target" if name == target else "" if band is None else str(band.get("bins", "groups"))
        table.add_row(name, spec["type"], values, f"{found['missing'][name]:.3f}", str(spec.get("max_missing", 0)),
                      shown)
    Console().print(table)
    console.print(f"wrote the schema of {len(found['schema']['columns'])} columns and validate.max_duplicate_share "
                  f"{found['max_duplicate_share']} (observed {found['duplicate_share']:.3f}) to "
                  f"{params_file}; review it, then `dvc add data` and `dvc repro`")


@app.command()
def run(batch: str = typer.Option(EXAMPLE_BATCH, help="CSV batch for the monitoring flow")) -> None:
    """Run the training flow (every dvc.yaml stage, then the release), then the monitoring flow on BATCH."""
    # Without PREFECT_API_URL the flows start an ephemeral API server in this process. On a machine's first run
    # it migrates a new database first, which took longer than Prefect's 20 s default on 2 busy cores.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
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
    dask_address: str = typer.Option(None, "--dask", metavar="ADDRESS",
                                     help="score partitions on the Dask scheduler at ADDRESS (tcp://host:8786), "
                                          "or on a cluster of this machine's cores with `local`"),
    blocksize: str = typer.Option(None, help="with --dask: bytes of SOURCE per partition, such as 64MB "
                                             "(default: Dask's)"),
) -> None:
    """Score a CSV with the champion (read with the missing-value rule stored with the model).

    With --dask, the cluster's workers read SOURCE and write OUTPUT (give paths they can reach); the output
    has the same rows, order, columns and labels, and the probabilities to float32 precision.
    """
    from driftline.package import predictor_for
    from driftline.scoring import dask_client, score_file, score_file_on_dask

    with reported(f"predict {source}"):
        _, predictor = predictor_for(load_params(), ROOT, model)
        if dask_address is None:
            rows = score_file(predictor, source, output)
        else:
            with dask_client(dask_address) as client:
                rows = score_file_on_dask(predictor, source, output, client, blocksize)
    console.print(f"wrote {rows} scored rows to {output}")


@app.command()
def serve(
    port: int = typer.Option(3000, help="port on 127.0.0.1"),
    model: str = typer.Option("champion", help="a version or an alias"),
    log: bool = typer.Option(None, "--log/--no-log", help="log every scored record (default: serve.log_enabled)"),
) -> None:
    """Serve the champion's bento on 127.0.0.1 (POST /predict, POST /explain, GET /healthz, GET /metadata).

    Every scored record goes to the inference log (params.yaml serve.log_url, or DRIFTLINE_LOG_URL);
    GET /metadata/log counts its writes and failures. The service keeps the version it started with;
    /metadata says which one, and whether the registry's champion has moved since (restart to follow it).
    """
    from driftline.package import serving_bento
    from driftline.serving.log import log_url

    with reported(f"serve {model}"):
        params = load_params()
        bento, entry = serving_bento(params, ROOT, model)
    env = os.environ | {"DRIFTLINE_REGISTRY": str((ROOT / params.registry.dir).resolve()),
                        "DRIFTLINE_VERSION": entry["version"], "DRIFTLINE_MODEL_TAG": entry["model_tag"],
                        "DRIFTLINE_LOG_URL": log_url(params.serve.log_url, ROOT)
                        if (params.serve.log_enabled if log is None else log) else "",
                        "DRIFTLINE_TIMEOUT_S": str(params.serve.timeout_s)}
    command = [sys.executable, "-m", "bentoml", "serve", bento, "--host", "127.0.0.1", "--port", str(port)]
    os.execve(sys.executable, command, env)  # BentoML takes this process over: a SIGTERM reaches it, not a parent


@app.command()
def explain(
    source: str = typer.Argument(..., help="CSV of records (the target column may be absent)"),
    output: Path = typer.Option(..., "-o", "--output", help="where to write rows + probability, logit, base value "
                                                            "and one shap_<column> attribution per column"),
    model: str = typer.Option("champion", help="a version or an alias"),
) -> None:
    """SHAP attributions of each record's logit per raw column, as the service's POST /explain gives them."""
    import pandas as pd

    from driftline.data import columns_of, read_csv
    from driftline.explain import Explainer
    from driftline.monitor import registered_model

    with reported(f"explain {source}"):
        _, predictor, model_dir = registered_model(load_params(), ROOT, model)
        frame = read_csv(source, predictor.schema, predictor.na_values)
        rows = Explainer.load(predictor, model_dir).explain_columns(columns_of(frame, predictor.schema.features))
        explained = pd.DataFrame([{k: v for k, v in r.items() if k != "attributions"}
                                  | {f"shap_{c}": a for c, a in r["attributions"].items()} for r in rows])
        output.parent.mkdir(parents=True, exist_ok=True)
        frame.reset_index(drop=True).join(explained).to_csv(output, index=False)
    console.print(f"wrote {len(explained)} explained rows to {output}")


@app.command()
def labels(source: str = typer.Argument(..., help="CSV with the record id column and the target column")) -> None:
    """Join late ground truth into the inference log by record id (idempotent); unknown ids are reported."""
    from driftline.serving import labels as late_labels

    with reported(f"labels {source}"):
        result = late_labels.run(source, load_params(), ROOT)
    console.print(f"{result['rows']} label rows: {result['new']} new, {result['updated']} changed, "
                  f"{result['unchanged']} already known, {result['unknown']} unknown id(s)"
                  + (f" such as {result['unknown_ids'][:5]}" if result["unknown"] else ""))


def moment(text: str | None, option: str) -> datetime | None:
    """An ISO date or time; without a zone it is UTC."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO date or time such as 2026-11-21T06:00",
                                 param_hint=option) from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def duration(text: str) -> timedelta:
    """'90m', '24h' or '7d' as a timedelta."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    if not match:
        raise typer.BadParameter(f"{text!r} is not a duration such as 30m, 24h or 7d", param_hint="--since")
    return timedelta(seconds=float(match[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]])


@app.command()
def monitor(
    current: str = typer.Argument(None, help="CSV batch (with the target column where labels are known); "
                                              "without it, a window of the inference log"),
    since: str = typer.Option(None, "--since", help="the log's last 30m, 24h, 7d..."),
    start: str = typer.Option(None, "--from", help="the log from this UTC time (ISO)"),
    end: str = typer.Option(None, "--to", help="the log until this UTC time (ISO), excluded"),
    as_json: bool = typer.Option(False, "--json", help="print the JSON summary to stdout"),
    model: str = typer.Option("champion", help="a version or an alias"),
) -> None:
    """Drift of data, predictions, attributions and fairness, and performance realised (labelled rows) and
    estimated (CBPE), of a batch or a log window; raises an alert where params.yaml's policy says so."""
    from driftline.monitor import monitor_batch, monitor_window, summary_markdown

    if current is not None and (since or start or end):
        raise typer.BadParameter("give a CSV batch or a log window (--since, --from/--to), not both")
    if since and (start or end):
        raise typer.BadParameter("--since and --from/--to exclude each other", param_hint="--since")
    lower = datetime.now(timezone.utc) - duration(since) if since else moment(start, "--from")
    upper = moment(end, "--to")
    with reported(f"monitor {current or 'log'}"):
        params = load_params()
        summary = (monitor_batch(current, params, ROOT, model) if current is not None
                   else monitor_window(params, ROOT, lower, upper, model))
    if as_json:
        typer.echo(json.dumps(summary, indent=1, default=str))
    else:
        Console().print(summary_markdown(summary))
    if summary.get("alerts"):
        console.print(f"[red]alert[/red]: {'; '.join(f['message'] for f in summary['alerts'])}")


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
