"""The monitoring runs over time: `workspace rebuild` makes the Evidently workspace again from the stored
summaries, and `ui` shows it in Evidently's own UI."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from driftline.cli.common import ROOT, app, console, reported
from driftline.config import load_params

workspace_app = typer.Typer(help="The Evidently workspace of monitoring runs that `driftline ui` shows.",
                            no_args_is_help=True)
app.add_typer(workspace_app, name="workspace", rich_help_panel="Monitoring")


@workspace_app.command()
def rebuild(workspace: Path = typer.Option(None, help="the workspace folder [default: monitor.workspace]")) -> None:
    """Make the workspace again from every stored monitoring summary (monitor.reports_dir): one project per
    model, one snapshot per run, and the dashboard."""
    from driftline.monitoring.workspace import rebuild as rebuild_workspace

    with reported("workspace rebuild"):
        params = load_params()
        workspace = workspace or params.monitor.workspace
        count = rebuild_workspace(ROOT / workspace, ROOT / params.monitor.reports_dir, params.package.model_name)
    console.print(f"rebuilt {workspace}: {count} snapshot(s) of {params.package.model_name}")


@app.command(rich_help_panel="Monitoring")
def ui(
    port: int = typer.Option(8000, help="port on 127.0.0.1"),
    workspace: Path = typer.Option(None, help="the workspace folder [default: monitor.workspace]"),
) -> None:
    """Evidently's UI over the workspace on 127.0.0.1: the dashboard of drift, performance, fairness,
    explanations, alerts and model versions over time. Offline: the front end is in Evidently's wheel."""
    if workspace is None:
        with reported("ui"):
            workspace = load_params().monitor.workspace
    if not (ROOT / workspace).is_dir():
        console.print(f"[red]no workspace at {workspace}[/red]: run `driftline workspace rebuild` first")
        raise typer.Exit(1)
    env = os.environ | {"DO_NOT_TRACK": "1"}  # Evidently's UI otherwise sends usage events to a fixed address
    command = [sys.executable, "-m", "evidently.cli", "ui", "--workspace", str(ROOT / workspace),
               "--host", "127.0.0.1", "--port", str(port)]
    os.execve(sys.executable, command, env)  # Evidently takes this process over: a SIGTERM reaches it, not a parent
