"""`driftline log`: the inference log's upkeep; `log purge` deletes records older than a cut, `log dead-letters`
shows the rows its database refused and `log replay` writes them again."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from driftline.cli.common import ROOT, app, console, reported
from driftline.cli.monitor import moment
from driftline.config import load_params

log_app = typer.Typer(help="The inference log: delete old records (serve.log_retention_days), show and replay the "
                           "rows its database refused (serve.dead_letter_path).", no_args_is_help=True)
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


@log_app.command("dead-letters")
def dead_letters(
    as_json: bool = typer.Option(False, "--json", help="print the dead letters as JSON lines, rows whole"),
) -> None:
    """Show the rows that the log's database refused (serve.dead_letter_path, or DRIFTLINE_DEAD_LETTERS): when,
    which record, and the error; `driftline log replay` writes them once the cause is mended."""
    from driftline.serving.log import dead_letter_file, dead_letter_path

    with reported("log dead-letters", spinner=False):
        path = dead_letter_path(load_params().serve.dead_letter_path, ROOT)
        entries = dead_letter_file(path).read()
    if as_json:
        for entry in entries:
            typer.echo(json.dumps(entry, default=str))
        return
    table = Table("time (UTC)", "record", "model version", "error", title=f"{len(entries)} dead letters in {path}")
    for entry in entries:
        row = entry["row"]
        cells = (entry["time"][:19].replace("T", " "), str(row.get("record_id")), str(row.get("model_version")),
                 entry["error"])
        table.add_row(*(Text(cell) for cell in cells))  # Text: an error's brackets are not rich markup
    Console(width=200).print(table)


@log_app.command()
def replay() -> None:
    """Write the dead letters to the inference log again: the rows it takes leave the file, the ones it still
    refuses stay (with their new error). Safe beside a running service, whose new dead letters are kept."""
    from driftline.serving.log import dead_letter_path, log_url
    from driftline.serving.replay import replay as replay_letters

    with reported("log replay"):
        params = load_params()
        counts = replay_letters(log_url(params.serve.log_url, ROOT),
                                dead_letter_path(params.serve.dead_letter_path, ROOT))
    console.print(f"replayed {counts['replayed']} dead letters from {counts['file']}: {counts['written']} written, "
                  f"{counts['refused']} refused again, {counts['unwritten']} left by an outage"
                  + (f" ({counts['outage']})" if counts["outage"] else ""))
    if counts["refused"] or counts["unwritten"]:
        raise typer.Exit(1)
