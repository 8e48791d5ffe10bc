"""`driftline log`: the inference log's upkeep; `log purge` deletes records older than a cut."""

from __future__ import annotations

import typer

from driftline.cli.common import ROOT, app, console, reported
from driftline.cli.monitor import moment
from driftline.config import load_params

log_app = typer.Typer(help="The inference log: delete old records (serve.log_retention_days).", no_args_is_help=True)
app.add_typer(log_app, name="log", rich_help_panel="Monitoring")


@log_app.command()
def purge(
    before: str = typer.Option(None, "--before", help="delete what was logged before this ISO date (its midnight "
                                                       "UTC) or time (UTC without a zone); default: now minus "
                                                       "serve.log_retention_days"),
    dry_run: bool = typer.Option(False, "--dry-run", help="count what would go, delete nothing"),
) -> None:
    """Delete the inference log's records created before the cut, and the labels only they had, in short batches
    that the running service's writer does not wait on."""
    from driftline.serving.log import log_url
    from driftline.serving.retention import cut_of
    from driftline.serving.retention import purge as purge_log

    cut = moment(before, "--before")
    with reported("log purge"):
        params = load_params()
        counts = purge_log(log_url(params.serve.log_url, ROOT), cut_of(cut, params.serve.log_retention_days),
                           dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    console.print(f"{verb} {counts['predictions']} predictions and {counts['labels']} labels logged before "
                  f"{counts['before']} (UTC) from {counts['log']}")
