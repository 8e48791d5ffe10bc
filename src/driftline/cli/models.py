"""Commands of the registry: `release` the packaged model, list `models`, `promote`, `rollback`."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from driftline.cli.common import ROOT, app, console, reported, show_release
from driftline.config import load_params


@app.command(rich_help_panel="Registry")
def release() -> None:
    """Register the packaged model, gate it, check its bento serves, write its card; promote it if blessed."""
    from driftline.registry.release import release as release_model

    with reported("release"):
        result = release_model(load_params(), ROOT)
    if show_release(result):
        raise typer.Exit(2)


@app.command(rich_help_panel="Registry")
def models(as_json: bool = typer.Option(False, "--json", help="print one JSON object per version")) -> None:
    """The registered versions: lineage, the task's primary metric, fairness gaps, gate verdict and aliases."""
    from driftline.core.fairness import gaps
    from driftline.core.metrics import PRIMARY
    from driftline.core.task import Task
    from driftline.registry.store import Registry

    with reported("models", spinner=False):
        params = load_params()
        registry = Registry(ROOT / params.registry.dir)
    rows = [e | {"aliases": registry.aliases_of(e["version"])} for e in reversed(registry.versions)]
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    kind = params.schema.task
    primary = PRIMARY[kind]
    # a binary model's table keeps its two columns; the others show every gap the audit measures
    shown = ({"max parity gap": "demographic_parity_difference", "max odds gap": "equalized_odds_difference"}
             if kind == "binary" else {f"max {gap}": gap for gap in gaps(Task.of(params.schema))})
    title = {"roc_auc": "AUC"}.get(primary, primary)
    table = Table("version", "created", "data", title, f"baseline {title}", *shown, "gate", "aliases", "card",
                  title="driftline models")
    for e in rows:
        largest = [max((v for k, v in e["fairness"].items() if k.endswith(f"_{gap}") and v is not None), default=None)
                   for gap in shown.values()]
        verdict = "blessed" if e["blessed"] else "refused: " + ", ".join(e["failed_checks"])
        table.add_row(e["version"], e["created"], (e["data_version"] or "")[:8], figure(e["metrics"].get(primary)),
                      figure(e.get(f"baseline_{primary}")), *(figure(v, 3) for v in largest), verdict,
                      ", ".join(e["aliases"]), e["card"])
    Console(width=200).print(table)


def figure(value: float | None, digits: int = 4) -> str:
    """VALUE to DIGITS decimals; "-" where a version has none (one registered for another task)."""
    return "-" if value is None else f"{value:.{digits}f}"


@app.command(rich_help_panel="Registry")
def promote(
    version: str = typer.Argument(..., help="a version from `driftline models`"),
    force: bool = typer.Option(False, "--force", help="promote even though the gate refused it"),
    reason: str = typer.Option(None, "--reason", help="why (required with --force); kept in the history"),
) -> None:
    """Make VERSION the champion (blessed versions only, unless --force --reason)."""
    from driftline.registry.release import promote as promote_version

    with reported(f"promote {version}"):
        record = promote_version(load_params(), version, ROOT, force, reason)
    show_move(record)


@app.command(rich_help_panel="Registry")
def rollback(reason: str = typer.Option("rollback", "--reason", help="kept in the history")) -> None:
    """The champion goes back to the previous champion."""
    from driftline.registry.release import rollback as rollback_champion

    with reported("rollback"):
        record = rollback_champion(load_params(), ROOT, reason)
    show_move(record)


def show_move(record: dict) -> None:
    """One line: where the champion went, or that it already was there."""
    if record["moved"]:
        console.print(f"champion: {record['from']} -> {record['to']} ({record['reason']})")
    else:
        console.print(f"champion: {record['to']} already; nothing moved")
