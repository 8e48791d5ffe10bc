"""Shared fixtures: the small project (tests/helpers/project.py) trained once, served, a PostgreSQL server, the
docs site. Helpers that are not fixtures live in tests/helpers/; no test imports from here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Before numpy, torch or scikit-learn start their thread pools, here and in every process a test starts: the test
# processes share the machine's few cores, and OpenMP's spinning threads slow every process down when the cores
# are oversubscribed (HistGradientBoosting, which DLE fits, ten times).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from driftline.core.processes import free_port  # noqa: E402
from tests.helpers.project import (  # noqa: E402
    REPO,
    SLICE_ROWS,
    full_data,
    make_project,
    model_stages,
    postgres_binaries,
    serving,
)

# Before bentoml is imported anywhere: tests never touch the user's model store.
os.environ["BENTOML_HOME"] = tempfile.mkdtemp(prefix="driftline-bentoml-")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture(scope="session")
def params():
    """The repository's params.yaml."""
    from driftline.config import load_params

    return load_params(REPO / "params.yaml")


@pytest.fixture(scope="session")
def adult_splits(params, tmp_path_factory) -> Path:
    """train/val/test parquet files and transform.json of Adult's first 3,000 rows (train 2,100 / val 450 /
    test 450), as the featurize stage writes them."""
    from driftline.core.data import coerce
    from driftline.core.encoding import Transform
    from driftline.core.splits import split
    from driftline.core.task import Task

    raw = pd.read_csv(REPO / "data" / "adult.csv", skipinitialspace=True, na_values=["?"], keep_default_na=False,
                      nrows=3000)
    frame = coerce(raw, params.schema)
    y = pd.Series(Task.of(params.schema).targets(frame), index=frame.index)
    cfg = params.featurize
    parts = split(frame, y, cfg.val_size, cfg.test_size, cfg.seed)
    out = tmp_path_factory.mktemp("adult-splits")
    for name, part in parts.items():
        part.reset_index(drop=True).to_parquet(out / f"{name}.parquet", index=False)
    Transform.fit(parts["train"], params.schema, cfg).save(out / "transform.json")
    return out


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Path:
    """A small project with every stage run in-process, in dvc.yaml's order."""
    from driftline.config import load_params
    from driftline.orchestration.release import release
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


@pytest.fixture(scope="session")
def held_out() -> pd.DataFrame:
    """Adult rows the small project never saw (its slice is the first rows)."""
    return full_data().iloc[SLICE_ROWS:].sample(2000, random_state=3)


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
            test_client.app_module = service
            yield test_client


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


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


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    """The docs site as `mkdocs build --strict` writes it (the hooks generate the references as it builds)."""
    out = tmp_path_factory.mktemp("site")
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=REPO,
                           capture_output=True, text=True, timeout=300, env=os.environ | {"NO_MKDOCS_2_WARNING": "1"})
    assert built.returncode == 0, built.stderr
    return out
