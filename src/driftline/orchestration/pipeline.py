"""The DAG as DVC sees it: stage order, one-stage reproduction and each stage's key figure.

Flows and the CLI use these so that dvc.yaml stays the only description of the pipeline. DVC runs
in this process, through its Python API, on one `Repo` per pipeline run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
from dvc.exceptions import ReproductionError
from dvc.repo import Repo
from dvc.stage import PipelineStage

from driftline.core.artifacts import dvc_env, stage_metrics
from driftline.core.verbosity import QUIET_STAGES, quiet
from driftline.errors import StageFailed


@dataclass
class StageRun:
    stage: str
    status: str  # "ran" or "skipped"
    seconds: float
    key_figure: str


def stage_order(repo: Repo) -> list[str]:
    """dvc.yaml stage names, each after the stages it depends on."""
    graph = repo.index.graph  # edges point from a stage to the stages it depends on
    return [s.name for s in reversed(list(nx.topological_sort(graph))) if isinstance(s, PipelineStage)]


def key_figure(root: Path, stage: str) -> str:
    """The first entry of the stage's first non-empty metrics file, as 'key=value' ('' if there is none)."""
    for path in stage_metrics(root, stage):
        values = json.loads(path.read_text()) if path.is_file() else {}
        for key, value in values.items():
            return f"{key}={value:.4f}" if isinstance(value, float) else f"{key}={value}"
    return ""


@contextlib.contextmanager
def _in_project(root: Path):
    # DVC resolves targets and its run cache against the working directory, and stage commands run
    # `python` from PATH: both are process-wide, so stages of one process run one at a time. The stage
    # processes leave their summary lines to reproduce()'s caller, which prints one line per stage.
    saved = {name: os.environ.get(name) for name in ("PATH", QUIET_STAGES)}
    os.environ |= {"PATH": dvc_env()["PATH"], QUIET_STAGES: "1"}
    try:
        with contextlib.chdir(root), dvc_quiet():
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def dvc_quiet():
    """DVC's stage lines ("Running stage", the command, "Updating lock file") off unless verbose, and printed by
    DVC's own handlers only: a root handler (Prefect's) would print each once more with a time stamp."""
    logger = logging.getLogger("dvc")
    propagate, logger.propagate = logger.propagate, False
    try:
        with quiet("dvc"):
            yield
    finally:
        logger.propagate = propagate


def reproduce(repo: Repo, stage: str) -> StageRun:
    """Reproduce one stage (DVC skips it when it is up to date); ran or skipped is what DVC returns."""
    root = Path(repo.root_dir)
    started = time.perf_counter()
    repo.scm_context.quiet = True  # no "git add dvc.lock" hint per stage; the run's summary says what changed
    with _in_project(root):
        try:
            ran = repo.reproduce(targets=[stage], single_item=True)
        except ReproductionError as exc:
            raise StageFailed(stage, str(exc.__cause__ or exc)) from None
    status = "ran" if ran else "skipped"
    return StageRun(stage, status, round(time.perf_counter() - started, 2), key_figure(root, stage))


def metrics(repo: Repo) -> dict[str, dict]:
    """All metrics files of the pipeline, by path, as `dvc metrics show` reads them."""
    shown = repo.metrics.show()
    return {path: entry.get("data", {}) for path, entry in shown.get("", {}).get("data", {}).items()}


def metrics_markdown(repo: Repo, runs: list[StageRun]) -> str:
    """A markdown summary of a training run: each stage's status, then every metric."""
    lines = ["| stage | status | seconds | key figure |", "|---|---|---|---|"]
    lines += [f"| {r.stage} | {r.status} | {r.seconds:.1f} | {r.key_figure} |" for r in runs]
    lines += ["", "| metrics file | metric | value |", "|---|---|---|"]
    for path, values in metrics(repo).items():
        lines += [f"| {path} | {k} | {v} |" for k, v in values.items()]
    return "\n".join(lines)
