"""The `history` command: the ledger of the data, the models and their rollouts, in time order."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from driftline.cli.common import ROOT, app, reported
from driftline.cli.monitor import duration, moment
from driftline.config import load_params


def since_moment(text: str | None) -> datetime | None:
    """--since as a moment: a span back from now (7d, 12h, 90m) or an ISO date or time (UTC without a zone)."""
    if text is None:
        return None
    try:
        return datetime.now(timezone.utc) - duration(text)
    except typer.BadParameter:
        pass
    try:
        return moment(text, "--since")
    except typer.BadParameter:
        raise typer.BadParameter(f"{text!r} is neither a span such as 7d, 12h or 90m nor an ISO date or time such "
                                 "as 2026-11-21T06:00", param_hint="--since") from None


@app.command(rich_help_panel="Registry")
def history(
    since: str = typer.Option(None, "--since", help="only from this moment: a span back from now (7d, 12h) or an "
                                                    "ISO date or time (UTC)"),
    as_json: bool = typer.Option(False, "--json", help="print the entries as a JSON list"),
) -> None:
    """The ledger: batches ingested and quarantined, contract results, training runs, gate verdicts, alias moves,
    rollouts and their decisions, alerts and the retraining they triggered; each with a link to its evidence."""
    from driftline.reporting.ledger import ledger

    start = since_moment(since)
    with reported("history", spinner=False):
        entries = ledger(load_params(), ROOT, start)
    if as_json:
        typer.echo(json.dumps(entries, indent=1))
        return
    table = Table("time (UTC)", "kind", "subject", "summary", "evidence", title="ledger")
    for item in entries:
        cells = (item["time"][:19].replace("T", " "), item["kind"], item["subject"], item["summary"],
                 item["evidence"] or "")
        table.add_row(*(Text(cell) for cell in cells))  # Text: a summary's brackets are not rich markup
    Console(width=200).print(table)  # one line per entry where it fits, as `driftline models` prints
