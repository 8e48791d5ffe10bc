"""Shared fixtures: a small copy of the project (a slice of Adult, a tiny epoch budget) trained once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
import yaml

from driftline.core.artifacts import dvc_env, run_dvc
from driftline.core.processes import free_port, process_group, wait_ready

REPO = Path(__file__).resolve().parents[1]
# Before bentoml is imported anywhere: tests never touch the user's model store.
os.environ["BENTOML_HOME"] = tempfile.mkdtemp(prefix="driftline-bentoml-")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

SMALL = {
    "train": {"members": 2, "width": 64, "blocks": 2, "max_epochs": 4, "patience": 2, "learning_rate": 0.003,
              # low frequencies: a few thousand rows cannot fit the full-data scale
              "batch_size": 128, "cv_below_rows": None,
              "embedding": {"d_embedding": 16, "n_frequencies": 16, "frequency_init_scale": 1.0, "lite": True}},
    "audit": {"background_rows": 20, "explain_rows": 40},
    # four epochs on a few thousand rows
    "gate": {"floors": [{"metric": "roc_auc", "min": 0.8}, {"metric": "calibration_error", "max": 0.1}]},
    "flows": {"retries": 0, "retry_delay_seconds": 0},
}
SLICE_ROWS = 6000


def full_data() -> pd.DataFrame:
    return pd.read_csv(REPO / "data" / "adult.csv", skipinitialspace=True, keep_default_na=False)


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


def cli(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the `driftline` console script in a project folder."""
    done = subprocess.run([str(Path(sys.executable).parent / "driftline"), *args], cwd=root,
                          capture_output=True, text=True, env=dvc_env(), check=False)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Path:
    """A small project with every stage run in-process, in dvc.yaml's order."""
    from driftline.config import load_params
    from driftline.release.publish import release
    from driftline.stages import featurize, validate

    root = make_project(tmp_path_factory.mktemp("trained"))
    params = load_params(root / "params.yaml")
    art, met = root / "artifacts", root / "metrics"
    validate.run(params, art / "validate/result.json", art / "validate/bias.json", art / "validate/docs",
                 met / "validate.json", root)
    featurize.run(params, art / "featurize", met / "featurize.json", root)
    model_stages(root)
    release(params, root)
    return root


def model_stages(root: Path, train_changes: dict | None = None, packaged: bool = True) -> None:
    """train, evaluate, audit and (PACKAGED) package of the project at ROOT in-process, in dvc.yaml's order,
    after TRAIN_CHANGES to params.yaml's train section."""
    from driftline.config import load_params
    from driftline.stages import audit, evaluate, package, train

    if train_changes:
        raw = yaml.safe_load((root / "params.yaml").read_text())
        raw["train"] |= train_changes
        (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    params, art, met = load_params(root / "params.yaml"), root / "artifacts", root / "metrics"
    decision = art / "evaluate/decision.json"
    train.run(params, art / "featurize", art / "train", art / "train-checkpoints", met / "train.json",
              root / "plots/train_history.json")
    evaluate.run(params, art / "featurize", art / "train", decision, art / "evaluate/scores.parquet",
                 met / "evaluate.json", root / "plots")
    audit.run(params, art / "featurize", art / "train", decision, art / "audit", met / "audit.json")
    if packaged:
        package.run(params, art / "featurize", art / "train", decision, art / "audit", art / "package/package.json",
                    root)


@pytest.fixture(scope="session")
def held_out() -> pd.DataFrame:
    """Adult rows the small project never saw (its slice is the first rows)."""
    return full_data().iloc[SLICE_ROWS:].sample(2000, random_state=3)


@contextmanager
def serving(root: Path, env: dict | None = None) -> Iterator[str]:
    """`driftline serve` of a project's champion on a free loopback port, until the block ends (then SIGTERM);
    its base URL. ENV is added to the environment (DRIFTLINE_LOG_URL, for one)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(Path(sys.executable).parent / "driftline"), "serve", "--port", str(port)]
    with process_group(command, env=dvc_env() | (env or {}), cwd=root) as proc:
        if wait_ready(url, proc, 90) is None:
            pytest.fail("the service did not become ready in 90 s")
        yield url


@pytest.fixture(scope="session")
def server(trained) -> Iterator[str]:
    """The small project's champion served for the whole session."""
    with serving(trained) as url:
        yield url


@pytest.fixture(scope="session")
def app_client(trained, tmp_path_factory):
    """The service's ASGI app in-process (BentoML's own app, lifespan included) on the small project's model,
    once per session (BentoML registers its metrics process-wide). Its inference log points where no database
    can be created, so every request of the tests that use it also shows that a broken log fails none."""
    import importlib
    import json

    from starlette.testclient import TestClient

    blocked = tmp_path_factory.mktemp("blocked-log") / "file"
    blocked.write_text("a file where the log's folder should be")
    tag = json.loads((trained / "artifacts/package/package.json").read_text())["model_tag"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DRIFTLINE_MODEL_TAG", tag)
        patch.setenv("DRIFTLINE_LOG_URL", f"sqlite:///{blocked / 'inference.db'}")
        from driftline.serving import service

        importlib.reload(service)  # resolve the model tag set above
        with TestClient(service.Driftline.to_asgi()) as test_client:
            yield test_client


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


def postgres_binaries() -> Path | None:
    """The folder of PostgreSQL's server binaries (initdb, pg_ctl), or None where it is not installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb")) if Path("/usr/lib/postgresql").is_dir() else []
    initdb = found[-1] if found else shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture(scope="session")
def postgres(tmp_path_factory) -> Iterator[str]:
    """A throwaway PostgreSQL server from the installed binaries on a free loopback port; its SQLAlchemy URL.

    PostgreSQL refuses to run as root, so under root the server runs as the `postgres` user."""
    bin_dir = postgres_binaries()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries (apt install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="driftline-pg-"))
    data, port = folder / "data", free_port()
    as_user = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, cwd=folder)

    run(str(bin_dir / "initdb"), "-D", str(data), "-U", "driftline", "--auth=trust", "-E", "UTF8")
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w", "-o",
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start")
    try:
        yield f"postgresql+psycopg://driftline@127.0.0.1:{port}/postgres"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


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


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    """The docs site as `mkdocs build --strict` writes it (the hooks generate the references as it builds)."""
    out = tmp_path_factory.mktemp("site")
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=REPO,
                           capture_output=True, text=True, timeout=300, env=os.environ | {"NO_MKDOCS_2_WARNING": "1"})
    assert built.returncode == 0, built.stderr
    return out
