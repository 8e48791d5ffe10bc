"""The `monitor` command: drift and performance of a batch or a window of the inference log."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import typer
from rich.console import Console

from driftline.cli.common import ROOT, app, console, reported
from driftline.config import load_params


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


def duration(text: str, option: str = "--since") -> timedelta:
    """'90m', '24h' or '7d' as a timedelta."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    if not match or float(match[1]) == 0:
        raise typer.BadParameter(f"{text!r} is not a duration such as 30m, 24h or 7d", param_hint=option)
    return timedelta(seconds=float(match[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]])


@app.command(rich_help_panel="Monitoring")
def monitor(
    current: str = typer.Argument(None, help="CSV batch (with the target column where labels are known); "
                                              "without it, a window of the inference log"),
    since: str = typer.Option(None, "--since", help="the log's last 30m, 24h, 7d..."),
    start: str = typer.Option(None, "--from", help="the log from this UTC time (ISO)"),
    end: str = typer.Option(None, "--to", help="the log until this UTC time (ISO), excluded"),
    every: str = typer.Option(None, "--every", help="backfill: monitor the window in turn, one run per 1d, 6h... "
                                                     "(past windows: alerts are recorded, not raised)"),
    as_json: bool = typer.Option(False, "--json", help="print the JSON summary to stdout"),
    model: str = typer.Option("champion", help="a version or an alias"),
) -> None:
    """Drift of data, predictions, attributions and fairness, and performance realised (labelled rows) and
    estimated (CBPE), of a batch or a log window; raises an alert where params.yaml's policy says so."""
    from driftline.monitoring.analysis import summary_markdown
    from driftline.orchestration.monitor import monitor_batch, monitor_window

    if current is not None and (since or start or end or every):
        raise typer.BadParameter("give a CSV batch or a log window (--since, --from/--to, --every), not both")
    if since and (start or end):
        raise typer.BadParameter("--since and --from/--to exclude each other", param_hint="--since")
    lower = datetime.now(timezone.utc) - duration(since) if since else moment(start, "--from")
    upper = moment(end, "--to")
    if every is not None:
        if lower is None:
            raise typer.BadParameter("a backfill needs where to start: --since or --from", param_hint="--every")
        return backfilled(lower, upper, duration(every, "--every"), model, as_json)
    with reported(f"monitor {current or 'log'}"):
        params = load_params()
        summary = (monitor_batch(current, params, ROOT, model) if current is not None
                   else monitor_window(params, ROOT, lower, upper, model))
    if as_json:
        typer.echo(json.dumps(summary.model_dump(exclude_unset=True), indent=1, default=str))
    else:
        Console().print(summary_markdown(summary))
    if summary.alerts:
        console.print(f"[red]alert[/red]: {'; '.join(f['message'] for f in summary.alerts)}")


def backfilled(lower: datetime, upper: datetime | None, every: timedelta, model: str, as_json: bool) -> None:
    """`monitor --every`: the backfill, one table row per window."""
    from rich.table import Table

    from driftline.orchestration.monitor import backfill

    with reported("monitor backfill"):
        done = backfill(load_params(), ROOT, lower, upper, every, model)
    if as_json:
        shown = done | {"summaries": [summary.to_json() for summary in done["summaries"]]}
        typer.echo(json.dumps(shown, indent=1, default=str))
        return
    table = Table("window", "rows", "drifted columns", "alerts (recorded)", title="backfill")
    for summary in done["summaries"]:
        table.add_row(summary.batch.removeprefix("log "), str(summary.rows),
                      str(len(summary.drifted_columns)), "; ".join(a["rule"] for a in summary.alerts) or "-")
    Console().print(table)
    console.print(f"{len(done['summaries'])} window(s) monitored, {len(done['skipped'])} without records skipped")
