"""The train stage fitting on a small Adult slice: the Lightning module and datamodule, the seeded run, a run killed
and resumed, the budgets and cross-validation."""

import json
import logging
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import lightning as L
import pandas as pd
import pytest
import torch
import yaml
from lightning.pytorch.callbacks import Callback
from safetensors.torch import load_file

from driftline.stages import train
from driftline.stages.train.callbacks import History
from driftline.stages.train.data import SplitData
from driftline.stages.train.module import Learner
from tests.helpers.project import REPO, small_budget


def quiet_trainer(tmp_path, **kwargs) -> L.Trainer:
    return L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path, **kwargs)


class Steps(Callback):
    """Counts the training and validation batches that actually ran."""

    def __init__(self):
        self.train = self.val = 0

    def on_train_batch_end(self, *args):
        self.train += 1

    def on_validation_batch_end(self, *args):
        self.val += 1


def test_fast_dev_run_takes_a_training_and_a_validation_step(params, adult_splits, tmp_path):
    L.seed_everything(0, verbose=False)
    p = small_budget(params)
    data = SplitData(adult_splits, p)
    module = Learner(data.transform, p.train, data.task, data.class_weights)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    steps = Steps()
    quiet_trainer(tmp_path, fast_dev_run=True, callbacks=[steps]).fit(module, datamodule=data)

    assert (steps.train, steps.val) == (1, 1)
    changed = [k for k, v in module.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("net.backbone.") for k in changed)  # the optimiser stepped
    # The shift that undoes the class weighting is a buffer, not something the optimiser moves.
    assert float(module.net.logit_offset) == pytest.approx(-math.log(data.class_weights))
    assert "net.logit_offset" not in changed
    metrics = module.trainer.callback_metrics
    assert math.isfinite(float(metrics["train_loss"]))
    assert 0 <= float(metrics["val_auc"]) <= 1


def test_training_loss_falls(params, adult_splits, tmp_path):
    L.seed_everything(0, verbose=False)
    p = small_budget(params, learning_rate=0.003, batch_size=128, dropout=0.0)
    data = SplitData(adult_splits, p)
    module = Learner(data.transform, p.train, data.task, data.class_weights)
    history = History("val_auc")
    quiet_trainer(tmp_path, max_epochs=6, callbacks=[history], num_sanity_val_steps=0,
                  deterministic=True).fit(module, datamodule=data)

    losses = [row["train_loss"] for row in history.rows]
    assert len(losses) == 6 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.8 * losses[0], losses
    assert history.rows[-1]["val_metric"] > 0.8, history.rows


def fit(params, adult_splits: Path, out: Path) -> tuple[dict, dict, list]:
    metrics = train.run(params, adult_splits, out, out / "checkpoints", out / "metrics.json", out / "history.json")
    return metrics, load_file(out / "model.safetensors"), json.loads((out / "history.json").read_text())


def test_same_seed_gives_identical_weights(params, adult_splits, tmp_path):
    p = small_budget(params)
    first_metrics, first, first_history = fit(p, adult_splits, tmp_path / "a")
    second_metrics, second, second_history = fit(p, adult_splits, tmp_path / "b")
    assert set(first) == set(second) and len(first) > 0
    for name, tensor in first.items():
        assert torch.equal(tensor, second[name]), name
    assert first_history == second_history and len(first_history) == 2
    assert first_metrics["best_val_auc"] == second_metrics["best_val_auc"]

    # The comparison can fail: another seed starts (and so ends) elsewhere.
    _, other, _ = fit(small_budget(params, seed=params.train.seed + 1), adult_splits, tmp_path / "c")
    assert any(not torch.equal(tensor, other[name]) for name, tensor in first.items() if name.startswith("backbone."))


def test_pilots_choose_the_frequency_scale_and_the_full_run_starts_as_without_them(params, adult_splits, tmp_path):
    piloted = small_budget(params, pilot_scales=[1.0, 300.0], pilot_epochs=1)
    metrics, weights, _ = fit(piloted, adult_splits, tmp_path / "piloted")
    configured = params.train.embedding.frequency_init_scale
    tried = {float(key.removeprefix("pilot_val_auc_scale_")): value for key, value in metrics.items()
             if key.startswith("pilot_val_auc_scale_")}
    assert set(tried) == {configured, 1.0, 300.0}
    assert metrics["frequency_init_scale"] == max(tried, key=tried.get)
    chosen = json.loads((tmp_path / "piloted" / "model.json").read_text())["embedding"]["frequency_init_scale"]
    assert chosen == metrics["frequency_init_scale"]
    # The pilots leave the random state as it was: the full run is the one a direct run of that scale gives.
    direct = small_budget(params, pilot_scales=[], embedding=params.train.embedding.model_copy(
        update={"frequency_init_scale": chosen}))
    _, same, _ = fit(direct, adult_splits, tmp_path / "direct")
    assert all(torch.equal(tensor, same[name]) for name, tensor in weights.items())


def test_a_small_table_trains_enough_epochs_to_take_min_steps(params, adult_splits, tmp_path):
    p = small_budget(params, min_steps=40, max_epochs=2, patience=10)  # 2,100 rows, batches of 256: 9 steps
    metrics, _, history = fit(p, adult_splits, tmp_path / "stretched")
    assert metrics["epochs"] == len(history) == 5  # ceil(40 / 9)


def test_a_run_killed_mid_training_resumes_and_ends_as_an_uninterrupted_one(params, adult_splits, tmp_path):
    """kill -9 as the second epoch starts (the first checkpoint is on disk), rerun the stage: same epochs, history,
    metrics and weights."""
    p = small_budget(params, max_epochs=8, patience=8, batch_size=64)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(p.model_dump(by_alias=True, mode="json")))
    out, checkpoints = tmp_path / "train", tmp_path / "checkpoints"
    command = [sys.executable, "-m", "pipelines.train", str(adult_splits), str(out), str(checkpoints),
               str(tmp_path / "metrics.json"), str(tmp_path / "history.json")]
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    killed = subprocess.run(command, cwd=tmp_path, env=env | {"DRIFTLINE_FAILPOINT": "train.epoch:2"},
                            capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL and (checkpoints / "last.ckpt").exists(), killed.stderr

    second = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert "resuming from" in second.stderr
    assert not list(checkpoints.glob("*.ckpt"))  # a finished run leaves nothing to resume

    metrics, weights, history = fit(p, adult_splits, tmp_path / "uninterrupted")
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    assert json.loads((tmp_path / "history.json").read_text()) == history
    resumed = load_file(out / "model.safetensors")
    assert all(torch.equal(resumed[name], tensor) for name, tensor in weights.items())


def test_max_rows_samples_each_epoch_and_sets_the_steps(params, adult_splits, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="driftline")
    rows = len(pd.read_parquet(adult_splits / "train.parquet"))
    p = small_budget(params, max_rows=2000, batch_size=64)  # 2 epochs of 1,000 training rows
    data = SplitData(adult_splits, p)
    assert f"each epoch samples 1,000 of {rows:,} training rows" in caplog.text
    assert data.batches["train"].rows == 1000 and len(data.batches["train"]) == 16
    module = Learner(data.transform, p.train, data.task, data.class_weights)
    steps = Steps()
    quiet_trainer(tmp_path, max_epochs=2, callbacks=[steps], num_sanity_val_steps=0).fit(module, datamodule=data)
    assert steps.train == 2 * 16

    caplog.clear()
    unlimited = SplitData(adult_splits, small_budget(params, max_rows=2 * rows, batch_size=64))
    assert unlimited.batches["train"].rows == rows and "samples" not in caplog.text


def test_max_minutes_stops_the_fit_and_keeps_the_best_model(params, adult_splits, tmp_path):
    p = small_budget(params, max_epochs=200, patience=200, max_minutes=0.001)
    metrics, weights, history = fit(p, adult_splits, tmp_path)
    assert 1 <= metrics["epochs"] < 200 and len(history) == metrics["epochs"]
    assert weights and not list((tmp_path / "checkpoints").glob("*.ckpt"))


@pytest.mark.parametrize("sharing", ["auto", "mini"])
def test_a_cross_validated_run_early_stops_on_the_folds_and_saves_their_ensemble(params, adult_splits, tmp_path,
                                                                                 sharing):
    """auto shares nothing between members when it cross-validates; mini gives each fold its own network."""
    # three epochs of 8 steps (2,100 rows): a learning rate that learns something in 24 steps
    p = small_budget(params, cv_below_rows=10**6, cv_folds=3, max_epochs=3, learning_rate=0.01, sharing=sharing)
    metrics = train.run(p, adult_splits, tmp_path / "model", tmp_path / "checkpoints", tmp_path / "metrics.json",
                        tmp_path / "history.json")
    assert 0.75 < metrics["best_val_auc"] <= 1 and metrics["epochs"] == 3
    config = json.loads((tmp_path / "model" / "model.json").read_text())
    assert config["members"] == 6
    assert config.get("sharing", "packed") == ("packed" if sharing == "auto" else "mini")
    assert config.get("groups") == (None if sharing == "auto" else 3)
