"""Batch scoring of a CSV, in one process and on Dask, writes each task's answers as Predictor.predict names them."""

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster

from driftline.core.predictor import Predictor
from driftline.serving.scoring import score_file, score_file_on_dask
from tests.helpers import tiny_models

BLOCKSIZE = "6kB"  # more than one partition of 300 rows


@pytest.fixture(scope="module")
def client():
    """One in-process worker: the partitions' scoring is the same code as on a cluster, without a process that
    imports torch (tests/integration/test_dask_scoring.py runs worker processes in the slow tier)."""
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            yield client


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_scoring_appends_the_tasks_columns_alike_in_one_process_and_on_dask(kind, client, tmp_path):
    predictor = Predictor.load(tiny_models.package(kind).path)
    frame = tiny_models.table(kind, rows=300, seed=4)  # the target may stay in a scored file
    frame.to_csv(tmp_path / "in.csv", index=False)
    assert dd.read_csv(tmp_path / "in.csv", blocksize=BLOCKSIZE).npartitions > 1
    assert score_file(predictor, str(tmp_path / "in.csv"), tmp_path / "one.csv") == len(frame)
    one = pd.read_csv(tmp_path / "one.csv", keep_default_na=False, na_values=[""])
    outputs = predictor.task.output_columns
    assert list(one.columns) == [*frame.columns, *outputs]
    expected = predictor.predict(frame)
    for name in outputs:
        if name == "label":
            assert one[name].tolist() == expected[name].tolist()
        else:
            np.testing.assert_allclose(one[name], expected[name], rtol=1e-9)
    score_file_on_dask(predictor, str(tmp_path / "in.csv"), tmp_path / "dask.csv", client, BLOCKSIZE)
    parts = pd.read_csv(tmp_path / "dask.csv", keep_default_na=False, na_values=[""])
    pd.testing.assert_frame_equal(parts, one, check_exact=False, rtol=1e-6)
