"""`driftline predict --dask`: partitions scored on a Dask cluster give the file that one process writes."""

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster

from driftline.config import load_params
from driftline.core.processes import free_port
from driftline.errors import DataError
from driftline.serving.scoring import score_file, score_file_on_dask
from tests.helpers.project import cli

pytestmark = pytest.mark.slow  # a Dask cluster of worker processes, each importing torch

BLOCKSIZE = "40kB"  # a few partitions of the 2,000 held-out rows


@pytest.fixture(scope="module")
def client():
    """A client of two single-threaded worker processes: the predictor and the partitions reach the workers
    pickled, as on a real cluster, and two workers fit the 2-core CI machine without oversubscribing it."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            yield client


@pytest.fixture(scope="module")
def predictor(trained):
    from driftline.registry.resolver import (
        resolve_model,  # heavy (BentoML, Evidently): imported where used, as conftest does
    )

    return resolve_model(load_params(trained / "params.yaml"), trained).predictor()


@pytest.fixture(scope="module")
def source(held_out, tmp_path_factory):
    """The held-out rows (target included) as a spreadsheet would export them, with an age missing in a
    later partition only: its integers must be written alike in every partition."""
    rows = held_out.astype({"age": object})
    rows.iloc[1500, rows.columns.get_loc("age")] = "?"
    path = tmp_path_factory.mktemp("dask-scoring") / "in.csv"
    rows.to_csv(path, index=False, encoding="utf-8-sig")
    assert dd.read_csv(path, blocksize=BLOCKSIZE).npartitions > 2
    return path


def test_dask_scoring_writes_the_file_one_process_writes(trained, predictor, source, client, tmp_path):
    score_file(predictor, str(source), tmp_path / "one.csv")  # what `driftline predict` without --dask runs
    done = cli(trained, "predict", str(source), "-o", str(tmp_path / "dask.csv"),
               "--dask", client.scheduler.address, "--blocksize", BLOCKSIZE)
    one, parts = (pd.read_csv(tmp_path / name, dtype=str, keep_default_na=False) for name in ("one.csv", "dask.csv"))
    assert f"wrote {len(one)} scored rows" in done.stderr
    pd.testing.assert_frame_equal(parts.drop(columns="probability"), one.drop(columns="probability"))
    # the network computes in float32, and the last bits of a row's score depend on the batch it is in
    np.testing.assert_allclose(parts["probability"].astype(float), one["probability"].astype(float), rtol=0, atol=1e-6)
    assert one["age"].iloc[1500] == "" and one["age"].iloc[0].isdigit()  # integers stay integers beside a gap


def test_a_bad_row_in_a_later_partition_fails_and_writes_nothing(predictor, held_out, client, tmp_path):
    rows = held_out.astype({"age": object})
    rows.iloc[-1, rows.columns.get_loc("age")] = "forty"
    rows.to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(DataError, match="column 'age' has non-numeric values such as 'forty'"):
        score_file_on_dask(predictor, str(tmp_path / "in.csv"), tmp_path / "out.csv", client, BLOCKSIZE)
    assert list(tmp_path.iterdir()) == [tmp_path / "in.csv"]


def test_an_unreachable_scheduler_is_named(trained, source, tmp_path, monkeypatch):
    import dask
    from typer.testing import CliRunner

    from driftline.cli import app

    monkeypatch.chdir(trained)  # in this process, which has imported the CLI's libraries already
    address = f"tcp://127.0.0.1:{free_port()}"
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        done = CliRunner().invoke(app, ["predict", str(source), "-o", str(tmp_path / "out.csv"), "--dask", address])
    assert done.exit_code == 1 and isinstance(done.exception, SystemExit)  # a clean exit: no traceback
    assert f"cannot reach the Dask scheduler at {address}" in done.output
    assert not (tmp_path / "out.csv").exists()
