"""Where stages write, read from dvc.yaml without importing DVC, and the helpers that write there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from driftline.errors import ConfigError, IngestError


def json_default(value):
    """JSON for what json.dumps does not know: a numpy scalar as its Python value, anything else (a time) as
    text."""
    return value.item() if hasattr(value, "item") else str(value)


def write_json(path: Path, value) -> None:
    """Write VALUE as indented JSON (numpy scalars as their Python values), creating the parent folder.

    Atomically: a temporary file beside PATH, renamed over it, so that a reader (the reports index, a file
    watcher, the docs build) never sees half a file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(value, indent=1, default=json_default)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def git_state(root: Path) -> tuple[str | None, bool]:
    """The commit at HEAD and whether tracked files differ from it (None outside a git repository)."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False)
    if head.returncode:
        return None, False
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                            capture_output=True, text=True, check=False)
    return head.stdout.strip(), bool(status.stdout.strip())


def _paths(entries: list) -> list[str]:
    return [next(iter(e)) if isinstance(e, dict) else e for e in entries]


def stage_outs(root: Path, stage: str) -> list[Path]:
    """The `outs` of a dvc.yaml stage in dvc.yaml order: not its metrics or plots, nor working state that it
    persists across runs (train's checkpoints)."""
    outs = [e for e in _stage(root, stage).get("outs", []) if not (isinstance(e, dict) and
                                                                  next(iter(e.values())).get("persist"))]
    return [root / p for p in _paths(outs)]


def stage_metrics(root: Path, stage: str) -> list[Path]:
    """The metrics files a dvc.yaml stage declares."""
    return [root / p for p in _paths(_stage(root, stage).get("metrics", []))]


def _stage(root: Path, stage: str) -> dict:
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    if stage not in stages:
        raise ConfigError(f"dvc.yaml has no stage '{stage}'")
    return stages[stage]


def stage_file(root: Path, stage: str, name: str) -> Path:
    """The file NAME that a dvc.yaml stage writes: one of its outs or metrics, or inside its one out folder."""
    outs = stage_outs(root, stage)
    for path in outs + stage_metrics(root, stage):
        if path.name == name:
            return path
    if len(outs) != 1:
        raise ConfigError(f"dvc.yaml stage '{stage}' writes no '{name}'")
    return outs[0] / name


def splits_dir(root: Path) -> Path:
    """The featurize stage's output folder: the splits and the fitted transform."""
    (out,) = stage_outs(root, "featurize")
    return out


def package_info(root: Path) -> Path:
    """The package stage's record of the model and bento tags."""
    (out,) = stage_outs(root, "package")
    return out


def dvc_env() -> dict[str, str]:
    """The environment for DVC and its stage commands: this interpreter's `python` first on PATH."""
    return os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def run_dvc(root: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m dvc ARGS` in ROOT with this interpreter, output captured; the caller checks returncode."""
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, capture_output=True, text=True,
                          env=dvc_env())


def dvc(root: Path, *args: str) -> None:
    """Run a DVC command in the project, raising IngestError with its output on failure."""
    done = run_dvc(root, *args)
    if done.returncode:
        raise IngestError(f"dvc {' '.join(args)} failed:\n{done.stdout}{done.stderr}")




def data_version(root: Path, data_dir: Path) -> str | None:
    """The md5 that the data folder's .dvc file records; None without a readable one."""
    pointer = root / f"{data_dir}.dvc"
    try:
        return yaml.safe_load(pointer.read_text())["outs"][0]["md5"]
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError):
        return None
