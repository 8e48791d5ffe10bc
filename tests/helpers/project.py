"""The project the tests run: a small copy of driftline (a slice of Adult, a tiny epoch budget), its stages run
in-process, its CLI and DVC as subprocesses, and `driftline serve` on a free loopback port."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
import yaml

from driftline.core.artifacts import dvc_env, run_dvc
from driftline.core.processes import free_port, process_group, wait_ready

REPO = Path(__file__).resolve().parents[2]
SMALL = {
    "train": {"members": 2, "width": 64, "blocks": 2, "max_epochs": 4, "patience": 2, "learning_rate": 0.003,
              # low frequencies: a few thousand rows cannot fit the full-data scale
              "batch_size": 128, "cv_below_rows": None, "min_steps": 0, "pilot_scales": [],
              "embedding": {"d_embedding": 16, "n_frequencies": 16, "frequency_init_scale": 1.0, "lite": True}},
    "boost": {"max_rounds": 60, "early_stopping_rounds": 20},
    "audit": {"background_rows": 20, "explain_rows": 40},
    # four epochs on a few thousand rows
    "gate": {"floors": [{"metric": "roc_auc", "min": 0.8}, {"metric": "calibration_error", "max": 0.1}]},
    "flows": {"retries": 0, "retry_delay_seconds": 0},
}
SLICE_ROWS = 6000
STAGES = tuple(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"])  # dvc.yaml's, in its order


def full_data() -> pd.DataFrame:
    return pd.read_csv(REPO / "data" / "adult.csv", skipinitialspace=True, keep_default_na=False)


def small_budget(params, **train):
    """PARAMS with a tiny CPU training budget; TRAIN overrides TrainParams fields."""
    settings = {"members": 2, "blocks": 1, "width": 16, "max_epochs": 2, "accelerator": "cpu", "precision": "32-true",
                "cv_below_rows": None, "min_steps": 0, "pilot_scales": []}
    return params.model_copy(update={"train": params.train.model_copy(update=settings | train)})


def make_project(root: Path, rows: int | None = SLICE_ROWS, overrides: dict | None = None) -> Path:
    """A runnable driftline project: code, dvc.yaml, params (small budget), a DVC repo with a local remote."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("src", "pipelines", "flows"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("dvc.yaml", "bentofile.yaml"):
        shutil.copy(REPO / name, root / name)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in (overrides if overrides is not None else SMALL).items():
        params[section].update(values)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (root / "data").mkdir()
    data = full_data()
    (data if rows is None else data.head(rows)).to_csv(root / "data" / "adult.csv", index=False)
    for command in (["init", "--no-scm", "-q"], ["remote", "add", "-d", "storage", str(root / "remote")],
                    ["add", "-q", "data"]):
        dvc(root, *command)
    return root


def dvc(root: Path, *args: str) -> subprocess.CompletedProcess:
    done = run_dvc(root, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def git(root: Path, *args: str) -> str:
    """`git ARGS` in ROOT as a test's own committer; its output. Fails the test where git fails."""
    return subprocess.run(["git", "-c", "user.name=driftline", "-c", "user.email=driftline@example.com", *args],
                          cwd=root, capture_output=True, text=True, check=True).stdout


def cli(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the `driftline` console script in a project folder."""
    done = subprocess.run([str(Path(sys.executable).parent / "driftline"), *args], cwd=root,
                          capture_output=True, text=True, env=dvc_env(), check=False)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def cli_in_process(root: Path, *args: str, check: bool = True):
    """The `driftline` CLI run in this process (Typer's CliRunner) in the project folder ROOT: no process to start
    (a unit test's, or a usage error's); asserts (CHECK) it exits 0. The result has exit_code, stdout, stderr."""
    from typer.testing import CliRunner

    from driftline.cli import app

    with contextlib.chdir(root):
        done = CliRunner().invoke(app, list(args))
    if check:
        assert done.exit_code == 0, done.output
    return done


def model_stages(root: Path, train_changes: dict | None = None, packaged: bool = True,
                 boost_changes: dict | None = None) -> None:
    """train, boost, evaluate, audit and (PACKAGED) package of the project at ROOT in-process, in dvc.yaml's
    order, after TRAIN_CHANGES and BOOST_CHANGES to params.yaml's train and boost sections."""
    from driftline.config import load_params
    from driftline.stages import audit, boost, evaluate, package, train

    if train_changes or boost_changes:
        raw = yaml.safe_load((root / "params.yaml").read_text())
        raw["train"] |= train_changes or {}
        raw["boost"] |= boost_changes or {}
        (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    params, art, met = load_params(root / "params.yaml"), root / "artifacts", root / "metrics"
    decision = art / "evaluate/decision.json"
    train.run(params, art / "featurize", art / "train", art / "train-checkpoints", met / "train.json",
              root / "plots/train_history.json")
    boost.run(params, art / "featurize", art / "boost", met / "boost.json")
    members = (art / "featurize", art / "train", art / "boost")
    evaluate.run(params, *members, decision, art / "evaluate/scores.parquet", met / "evaluate.json", root / "plots")
    audit.run(params, *members, decision, art / "audit", met / "audit.json")
    if packaged:
        package.run(params, *members, decision, art / "audit", art / "package/package.json", root)


@contextmanager
def ready_server(command: list[str], url: str, probe: str = "/readyz", env: dict | None = None,
                 cwd: Path | None = None, budget_s: float = 90) -> Iterator[subprocess.Popen]:
    """COMMAND in a process group of its own until the block ends (then SIGTERM), from the moment its readiness
    PROBE at URL answers 200; the test fails where it does not within BUDGET_S."""
    with process_group(command, env=env, cwd=cwd) as process:
        if wait_ready(url, process, budget_s, probe) is None:
            pytest.fail(f"{' '.join(Path(part).name for part in command[:2])} did not become ready in {budget_s} s")
        yield process


@contextmanager
def serving(root: Path, env: dict | None = None) -> Iterator[str]:
    """`driftline serve` of a project's champion on a free loopback port, until the block ends (then SIGTERM);
    its base URL. ENV is added to the environment (DRIFTLINE_LOG_URL, for one)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(Path(sys.executable).parent / "driftline"), "serve", "--port", str(port)]
    with ready_server(command, url, env=dvc_env() | (env or {}), cwd=root):
        yield url


def postgres_binaries() -> Path | None:
    """The folder of PostgreSQL's server binaries (initdb, pg_ctl), or None where it is not installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb")) if Path("/usr/lib/postgresql").is_dir() else []
    initdb = found[-1] if found else shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def log_database(request, tmp_path: Path) -> str:
    """An empty inference log's URL for a fixture parametrised "sqlite" or "postgresql": a file under TMP_PATH, or a
    fresh database on the session's PostgreSQL server (skipped where it is not installed)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'logs' / 'inference.db'}"
    from sqlalchemy import create_engine

    server = request.getfixturevalue("postgres")  # one server per session, a fresh database per test
    name = f"t{uuid.uuid4().hex[:12]}"
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return server.rsplit("/", 1)[0] + "/" + name
