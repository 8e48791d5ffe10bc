"""`driftline rollout`: a candidate beside the champion in shadow or canary, its status, its end, and the decision
on evidence."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from driftline.cli.common import ROOT, app, console, reported
from driftline.config import load_params

rollout_app = typer.Typer(help="A blessed version beside the champion (shadow or canary) until the evidence "
                               "decides.", no_args_is_help=True)
app.add_typer(rollout_app, name="rollout", rich_help_panel="Registry")


def project_registry():
    from driftline.registry.store import Registry

    return Registry(ROOT / load_params().registry.dir)


@rollout_app.command()
def status(as_json: bool = typer.Option(False, "--json", help="print the state as JSON")) -> None:
    """The running rollout: its candidate, mode, share, start and the champion beside it."""
    from driftline.release.rollout import status as rollout_status

    with reported("rollout status", spinner=False):
        state = rollout_status(project_registry())
    if as_json:
        typer.echo(json.dumps(state, indent=1))
        return
    rollout = state["rollout"]
    if rollout is None:
        console.print(f"no rollout is running; champion: {state['champion']}")
        return
    share = f" (share {rollout['canary_share']:.0%})" if rollout["mode"] == "canary" else ""
    console.print(f"{rollout['mode']}{share}: candidate {rollout['version']} beside champion {state['champion']}, "
                  f"since {rollout['started']}")


@rollout_app.command()
def start(
    version: str = typer.Argument(..., help="a blessed version from `driftline models`"),
    mode: str = typer.Option(None, "--mode", help="shadow or canary (default: registry.rollout.mode)"),
    share: float = typer.Option(None, "--share", help="canary: the share of records the candidate answers "
                                                      "(default: registry.rollout.canary_share)"),
) -> None:
    """Make VERSION the candidate beside the champion; restart `driftline serve` to serve both arms."""
    from driftline.release.rollout import start as start_rollout

    with reported(f"rollout start {version}", spinner=False):
        configured = load_params().registry.rollout
        chosen = mode or configured.mode
        record = start_rollout(project_registry(), version, chosen, share or configured.canary_share,
                               f"started by hand: {chosen} rollout")
    console.print(f"candidate: {record['to']} in {record['rollout']['mode']} beside champion "
                  f"{record['rollout']['champion']}")


@rollout_app.command()
def stop(reason: str = typer.Option("stopped by hand", "--reason", help="kept in the history")) -> None:
    """End the running rollout: the candidate goes, the champion stays (restart `driftline serve`)."""
    from driftline.release.rollout import stop as stop_rollout

    with reported("rollout stop", spinner=False):
        record = stop_rollout(project_registry(), reason)
    console.print(f"rollout of {record['from']} stopped ({reason}); the champion is unchanged")


@rollout_app.command()
def decide(as_json: bool = typer.Option(False, "--json", help="print the decision record as JSON")) -> None:
    """Judge the running rollout on the inference log (registry.rollout.decide): promote, wait or roll back."""
    from rich.table import Table

    from driftline.release.decide import decide as decide_rollout
    from driftline.release.decide import figures

    with reported("rollout decide"):
        params = load_params()
        record = decide_rollout(params, ROOT)
    if as_json:
        typer.echo(json.dumps(record.model_dump(mode="json"), indent=1))
        return
    colour = {"promote": "green", "wait": "yellow", "rollback": "red"}[record.outcome]
    console.print(f"[{colour}]{record.outcome}[/{colour}]: candidate {record.version} beside champion "
                  f"{record.champion} ({record.mode}, {record.hours:.1f} h)")
    for reason in record.reasons:
        console.print(f"  {reason}")
    table = Table("figure", "champion", "candidate", "difference / limit", title="evidence")
    for row in figures(record):
        table.add_row(*row)
    Console().print(table)
    console.print(f"evidence: {Path(params.registry.dir) / record.evidence}")
