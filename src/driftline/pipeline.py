"""The DAG as DVC sees it: stage order, one-stage reproduction and each stage's key figure.

Flows and the CLI use these so that dvc.yaml stays the only description of the pipeline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
from dvc.repo import Repo
from dvc.stage import PipelineStage


@dataclass
class StageRun:
    stage: str
    status: str  # "ran" or "skipped"
    seconds: float
    key_figure: str
    log: str


def stage_order(root: Path) -> list[str]:
    """dvc.yaml stage names, each after the stages it depends on."""
    with Repo(str(root)) as repo:
        graph = repo.index.graph  # edges point from a stage to the stages it depends on
        return [s.name for s in reversed(list(nx.topological_sort(graph))) if isinstance(s, PipelineStage)]


def metrics_files(root: Path, stage: str) -> list[Path]:
    """The metrics files a stage declares, in dvc.yaml order."""
    with Repo(str(root)) as repo:
        (found,) = [s for s in repo.index.stages if getattr(s, "name", None) == stage]
        return [root / o.def_path for o in found.outs if o.metric] or [
            root / o.def_path for o in found.outs if o.def_path.endswith(".json")
        ]


def key_figure(root: Path, stage: str) -> str:
    """The first entry of the stage's first metrics file (or JSON output), as 'key=value'."""
    for path in metrics_files(root, stage):
        if path.is_file():
            key, value = next(iter(json.loads(path.read_text()).items()))
            return f"{key}={value:.4f}" if isinstance(value, float) else f"{key}={value}"
    return ""


def reproduce(root: Path, stage: str) -> StageRun:
    """`dvc repro --single-item STAGE` in the project; up-to-date stages are skipped by DVC."""
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "dvc", "repro", "--single-item", stage],
        cwd=root, env=env, capture_output=True, text=True,
    )
    log = done.stdout + done.stderr
    if done.returncode:
        raise StageFailed(stage, log)
    status = "ran" if f"Running stage '{stage}'" in log else "skipped"
    return StageRun(stage, status, round(time.perf_counter() - started, 2), key_figure(root, stage), log)


class StageFailed(RuntimeError):
    """A stage exited non-zero; the message ends with what it printed."""

    def __init__(self, stage: str, log: str):
        self.stage, self.log = stage, log
        super().__init__(f"stage '{stage}' failed:\n{log.strip()[-4000:]}")


def metrics(root: Path) -> dict[str, dict]:
    """All metrics files of the pipeline, by path, as `dvc metrics show` reads them."""
    with Repo(str(root)) as repo:
        shown = repo.metrics.show()
    return {path: entry.get("data", {}) for path, entry in shown.get("", {}).get("data", {}).items()}


def metrics_markdown(root: Path, runs: list[StageRun]) -> str:
    """A markdown summary of a training run: each stage's status, then every metric."""
    lines = ["| stage | status | seconds | key figure |", "|---|---|---|---|"]
    lines += [f"| {r.stage} | {r.status} | {r.seconds:.1f} | {r.key_figure} |" for r in runs]
    lines += ["", "| metrics file | metric | value |", "|---|---|---|"]
    for path, values in metrics(root).items():
        lines += [f"| {path} | {k} | {v} |" for k, v in values.items()]
    return "\n".join(lines)
