"""Declared types in training: a couple of hundred rows whose categories look like numbers learn."""

import logging

from driftline.stages import train
from tests.helpers.declared_types import small_params, write_splits


def test_training_on_a_couple_of_hundred_rows_learns(params, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="driftline")
    splits = write_splits(tmp_path / "splits", params)
    out = tmp_path / "train"
    metrics = train.run(small_params(params), splits, out, out / "checkpoints", out / "metrics.json",
                        out / "history.json")
    assert "batch_size 256 -> 18" in caplog.text  # 140 training rows: 8 steps an epoch, not 1
    assert metrics["best_val_auc"] > 0.75, metrics  # 0.6 with one step an epoch; `spend` alone gives 0.91
