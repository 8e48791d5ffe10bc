"""Commands of the registry: `release` the packaged model, list `models`, `promote`, `rollback`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from driftline.cli.common import ROOT, app, console, gate_table, reported, show_release
from driftline.config import load_params

DRY_RUN_VERDICT = Path("reports/release-dry-run.json")


@app.command(rich_help_panel="Registry")
def release(
    dry_run: bool = typer.Option(False, "--dry-run", help="gate and infra-check the packaged model and write the "
                                 "verdict; register, move and keep nothing (exit 2 when a new model would be refused)"),
    verdict: Path = typer.Option(None, "--verdict", help=f"with --dry-run: where the verdict goes as JSON "
                                 f"(default {DRY_RUN_VERDICT})"),
) -> None:
    """Register the packaged model, gate it, check its bento serves, write its card; promote it if blessed.

    With --dry-run, only judge it: the pull request's job sees the verdict before anything is registered.
    """
    from driftline.orchestration.release import release as release_model
    from driftline.release.judge import dry_run as judge_model

    if verdict is not None and not dry_run:
        raise typer.BadParameter("only a dry run writes a verdict file; a release writes registry/blessings/",
                                 param_hint="--verdict")
    if dry_run:
        path = verdict or DRY_RUN_VERDICT
        with reported("release --dry-run"):
            result = judge_model(load_params(), path, ROOT)
        if show_dry_run(result, path):
            raise typer.Exit(2)
        return
    with reported("release"):
        result = release_model(load_params(), ROOT)
    refused = show_release(result)
    if result["note"]:  # a release finished, one already made, or a verdict that no longer stands
        console.print(f"version {result['version']}: {result['note']}")
    if refused:
        raise typer.Exit(2)


def show_dry_run(verdict: dict, path: Path) -> bool:
    """The gate's table and what a release would do (release's exit status); True when it would refuse a new model."""
    Console().print(gate_table(verdict["blessing"], "gate (dry run)"))
    outcome = ("would be promoted to champion" if verdict["would_promote"] else
               "would become the rollout's candidate" if verdict["would_roll_out"] else
               "would be registered, not promoted" if verdict["new"] else "already registered: nothing would move")
    console.print(f"version {verdict['version']}: {outcome}; nothing registered or moved (verdict: {path})")
    return verdict["new"] and not verdict["would_promote"] and not verdict["would_roll_out"]


@app.command(rich_help_panel="Registry")
def models(as_json: bool = typer.Option(False, "--json", help="print one JSON object per version")) -> None:
    """The registered versions: lineage, the task's primary metric, fairness gaps, gate verdict and aliases."""
    from driftline.core.fairness import gaps
    from driftline.core.metrics import PRIMARY
    from driftline.core.task import Task
    from driftline.registry.store import Registry
    from driftline.release.card import blend_text

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
    table = Table("version", "created", "data", title, f"baseline {title}", "blend", *shown, "gate", "aliases",
                  "card", title="driftline models")
    for e in rows:
        largest = [max((v for k, v in e["fairness"].items() if k.endswith(f"_{gap}") and v is not None), default=None)
                   for gap in shown.values()]
        verdict = ("blessed, rolled back: " + e["refused"]["decision"] if e.get("refused") else
                   "blessed" if e["blessed"] else "refused: " + ", ".join(e["failed_checks"]))
        table.add_row(e["version"], e["created"], (e["data_version"] or "")[:8], figure(e["metrics"].get(primary)),
                      figure(e.get(f"baseline_{primary}")), blend_text(e.get("blend")) or "-",
                      *(figure(v, 3) for v in largest), verdict,
                      ", ".join(e["aliases"]), e["card"])
    Console(width=200).print(table)


def figure(value: float | None, digits: int = 4) -> str:
    """VALUE to DIGITS decimals; "-" where a version has none (one registered for another task)."""
    return "-" if value is None else f"{value:.{digits}f}"


@app.command(rich_help_panel="Registry")
def promote(
    version: str = typer.Argument(..., help="a version from `driftline models`"),
    force: bool = typer.Option(False, "--force", help="promote even though the gate or a rollout decision refused it"),
    reason: str = typer.Option(None, "--reason", help="why (required with --force); kept in the history"),
) -> None:
    """Make VERSION the champion (blessed versions that no rollout decision refused, unless --force --reason)."""
    from driftline.release.publish import promote as promote_version

    with reported(f"promote {version}"):
        record = promote_version(load_params(), version, ROOT, force, reason)
    show_move(record)


@app.command(rich_help_panel="Registry")
def rollback(reason: str = typer.Option("rollback", "--reason", help="kept in the history")) -> None:
    """The champion goes back down its history, past versions a rollout decision refused; each rollback goes one
    further back, until there is nothing left to roll back to."""
    from driftline.release.publish import rollback as rollback_champion

    with reported("rollback"):
        record = rollback_champion(load_params(), ROOT, reason)
    show_move(record)


def show_move(record: dict) -> None:
    """One line: where the champion went, or that it already was there."""
    if record["moved"]:
        console.print(f"champion: {record['from']} -> {record['to']} ({record['reason']})")
    else:
        console.print(f"champion: {record['to']} already; nothing moved")
