"""Stage entry points run by dvc.yaml: each parses its paths and calls one `run` in src/driftline."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import typer

from driftline.config import Params, load_params
from driftline.core.verbosity import show_logs, stage_line
from driftline.errors import DriftlineError


def run_stage(name: str, body: Callable[[Params], dict]) -> None:
    """Call body(params); any driftline error prints its message and exits 1 without a traceback."""
    started = time.perf_counter()
    show_logs()
    try:
        result = body(load_params(Path("params.yaml")))
    except DriftlineError as exc:
        typer.secho(f"{name}: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    stage_line(f"{name}: {result} ({time.perf_counter() - started:.1f} s)")
