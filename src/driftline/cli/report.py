"""Commands that write reports for people: `report pr`, the pull request's report, and `report index`, the
report site."""

from __future__ import annotations

from pathlib import Path

import typer

from driftline.cli.common import ROOT, app, console, reported
from driftline.config import load_params

report_app = typer.Typer(help="Reports for people: the pull request's metrics, gate, explanations and plots; "
                              "the report index of every run.", no_args_is_help=True)
app.add_typer(report_app, name="report", rich_help_panel="Registry")


@report_app.command()
def pr(
    base: str = typer.Option(..., "--base", help="the git revision to compare with (the pull request's base)"),
    out: Path = typer.Option(Path("report.md"), "-o", "--output", help="the markdown file; plots go beside it"),
    verdict: Path = typer.Option(None, "--verdict",
                                 help="the gate's verdict from `driftline release --dry-run`, where it wrote one"),
) -> None:
    """Write the pull request's report: metrics diff against BASE with bootstrap intervals, the gate's verdict,
    the top SHAP features, fairness gaps, the contract and the plots as PNGs."""
    from driftline.reporting.pr import write_pr_report

    with reported("report pr"):
        written = write_pr_report(load_params(), ROOT, base, out, verdict)
    console.print(f"report: {written}")


@report_app.command()
def index() -> None:
    """Rebuild reports/index.html (every training and monitoring run, newest first), its run pages, the ledger
    (history.html) and the timeline figures, from what the runs left under reports/."""
    from driftline.reporting.index import build_index

    with reported("report index"):
        written = build_index(ROOT)
    console.print(f"index: {written}")
