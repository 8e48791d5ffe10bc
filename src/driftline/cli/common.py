"""What every command shares: the Typer app, the message console, and known failures as one red line."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from driftline.core.verbosity import VERBOSE, show_logs
from driftline.errors import DriftlineError

if TYPE_CHECKING:  # the CLI starts without pydantic models it may not need
    from driftline.release.blessing import Blessing

app = typer.Typer(help="`driftline`: run the pipeline, ingest a batch, score, serve and monitor. Run it from the "
                       "project root.", no_args_is_help=True, add_completion=False)
console = Console(stderr=True, soft_wrap=True, highlight=False)  # messages stay whole lines, greppable
ROOT = Path(".")


@app.callback()
def options(verbose: bool = typer.Option(False, "--verbose", help="also show what the libraries print (DVC's "
                                         "stage lines, Lightning's banners, their warnings) and each stage's own "
                                         "summary")) -> None:
    """Options for every command."""
    if verbose:
        os.environ[VERBOSE] = "1"  # the stage processes that DVC starts inherit it
    show_logs()


@contextmanager
def reported(action: str, spinner: bool = True) -> Iterator[None]:
    """Show a spinner; turn driftline's errors, and any I/O error, into one red message and exit code 1."""
    try:
        if spinner:
            with console.status(f"{action}..."):
                yield
        else:
            yield
    except (DriftlineError, OSError) as exc:
        console.print(Text.assemble((f"{action} failed: ", "red"), str(exc)))
        raise typer.Exit(1) from None


def gate_table(blessing: Blessing, title: str) -> Table:
    """A blessing's checks (release.gate) as a table titled TITLE and the verdict."""
    table = Table("check", "value", "threshold", "passed", title=f"{title}: blessed={blessing.blessed}")
    for c in blessing.checks:
        value = "" if c.value is None else f"{c.value:.4f}"
        table.add_row(c.name, value, c.threshold, "yes" if c.passed else "[red]NO[/red]")
    return table


def show_release(result: dict) -> bool:
    """Print the gate's table and what happened to the version; True when the gate refused a new model."""
    Console().print(gate_table(result["blessing"], "gate"))
    rollout = result.get("rollout")
    outcome = "promoted to champion" if result["promoted"] else (
        f"candidate in a {rollout['mode']} rollout beside champion {rollout['champion']}: `driftline rollout "
        "decide` promotes it on evidence" if rollout else
        "new, not promoted: the champion is unchanged" if result["new"] else "already registered: nothing moved")
    console.print(f"version {result['version']}: {outcome}")
    return result["new"] and not result["promoted"] and not rollout
