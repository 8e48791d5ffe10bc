"""The train stage: the Lightning module and datamodule, and the seeded end-to-end run, on small Adult slices."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from lightning.pytorch.callbacks import Callback
from safetensors.torch import load_file

from driftline import train
from driftline.data import coerce, labels
from driftline.encoding import Transform
from driftline.featurize import split
from driftline.train import Classifier, History, SplitData

REPO = Path(__file__).resolve().parents[2]
ROWS = 3000  # train 2,100 / val 450 / test 450


@pytest.fixture(scope="module")
def splits_dir(params, tmp_path_factory) -> Path:
    """train/val/test parquet files and transform.json, as the featurize stage writes them, from the first rows."""
    raw = pd.read_csv(REPO / "data" / "adult.csv", skipinitialspace=True, na_values=["?"], keep_default_na=False,
                      nrows=ROWS)
    frame = coerce(raw, params.schema)
    y = pd.Series(labels(frame, params.schema), index=frame.index)
    cfg = params.featurize
    parts = split(frame, y, cfg.val_size, cfg.test_size, cfg.seed)
    out = tmp_path_factory.mktemp("splits")
    for name, part in parts.items():
        part.reset_index(drop=True).to_parquet(out / f"{name}.parquet", index=False)
    Transform.fit(parts["train"], params.schema, cfg).save(out / "transform.json")
    return out


def small(params, **train):
    """params with a tiny CPU training budget; `train` overrides TrainParams fields."""
    settings = {"members": 2, "blocks": 1, "width": 16, "max_epochs": 2, "accelerator": "cpu", "precision": "32-true"}
    return params.model_copy(update={"train": params.train.model_copy(update=settings | train)})


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


def test_split_data_encodes_both_splits(params, splits_dir):
    data = SplitData(splits_dir, small(params))
    transform = Transform.load(splits_dir / "transform.json")
    train_frame = pd.read_parquet(splits_dir / "train.parquet")
    y = labels(train_frame, params.schema)
    assert data.in_features == transform.width
    assert data.batches["train"].x.shape == (len(train_frame), transform.width)
    np.testing.assert_array_equal(data.batches["train"].y.numpy(), y)
    assert data.positive_weight == pytest.approx((len(y) - y.sum()) / y.sum())
    assert data.batches["train"].shuffle and not data.batches["val"].shuffle


def test_fast_dev_run_takes_a_training_and_a_validation_step(params, splits_dir, tmp_path):
    L.seed_everything(0, verbose=False)
    p = small(params)
    data = SplitData(splits_dir, p)
    module = Classifier(data.in_features, data.transform.scores, p.train, data.positive_weight)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    steps = Steps()
    quiet_trainer(tmp_path, fast_dev_run=True, callbacks=[steps]).fit(module, datamodule=data)

    assert (steps.train, steps.val) == (1, 1)
    changed = [k for k, v in module.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("net.backbone.") for k in changed)  # the optimiser stepped
    # The shift that undoes the class weighting is a buffer, not something the optimiser moves.
    assert float(module.net.logit_offset) == pytest.approx(-math.log(data.positive_weight))
    assert "net.logit_offset" not in changed
    metrics = module.trainer.callback_metrics
    assert math.isfinite(float(metrics["train_loss"]))
    assert 0 <= float(metrics["val_auc"]) <= 1


def test_training_loss_falls(params, splits_dir, tmp_path):
    L.seed_everything(0, verbose=False)
    p = small(params, learning_rate=0.003, batch_size=128, dropout=0.0)
    data = SplitData(splits_dir, p)
    module = Classifier(data.in_features, data.transform.scores, p.train, data.positive_weight)
    history = History()
    quiet_trainer(tmp_path, max_epochs=6, callbacks=[history], num_sanity_val_steps=0,
                  deterministic=True).fit(module, datamodule=data)

    losses = [row["train_loss"] for row in history.rows]
    assert len(losses) == 6 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.8 * losses[0], losses
    assert history.rows[-1]["val_auc"] > 0.8, history.rows


def fit(params, splits_dir: Path, out: Path) -> tuple[dict, dict, list]:
    metrics = train.run(params, splits_dir, out, out / "checkpoints", out / "metrics.json", out / "history.json")
    return metrics, load_file(out / "model.safetensors"), json.loads((out / "history.json").read_text())


def test_same_seed_gives_identical_weights(params, splits_dir, tmp_path):
    p = small(params)
    first_metrics, first, first_history = fit(p, splits_dir, tmp_path / "a")
    second_metrics, second, second_history = fit(p, splits_dir, tmp_path / "b")
    assert set(first) == set(second) and len(first) > 0
    for name, tensor in first.items():
        assert torch.equal(tensor, second[name]), name
    assert first_history == second_history and len(first_history) == 2
    assert first_metrics["best_val_auc"] == second_metrics["best_val_auc"]

    # The comparison can fail: another seed starts (and so ends) elsewhere.
    _, other, _ = fit(small(params, seed=params.train.seed + 1), splits_dir, tmp_path / "c")
    assert any(not torch.equal(tensor, other[name]) for name, tensor in first.items() if name.startswith("backbone."))


def test_a_run_killed_mid_training_resumes_and_ends_as_an_uninterrupted_one(params, splits_dir, tmp_path):
    """kill -9 once the first checkpoint is on disk, rerun the stage: same epochs, history, metrics and weights."""
    p = small(params, max_epochs=8, patience=8, batch_size=64)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(p.model_dump(by_alias=True, mode="json")))
    out, checkpoints = tmp_path / "train", tmp_path / "checkpoints"
    command = [sys.executable, "-m", "pipelines.train", str(splits_dir), str(out), str(checkpoints),
               str(tmp_path / "metrics.json"), str(tmp_path / "history.json")]
    env = os.environ | {"PYTHONPATH": str(REPO)}
    first = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (checkpoints / "last.ckpt").exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    first.kill()
    first.wait()
    assert first.returncode == -signal.SIGKILL and (checkpoints / "last.ckpt").exists()

    second = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert "resuming from" in second.stderr
    assert not list(checkpoints.glob("*.ckpt"))  # a finished run leaves nothing to resume

    metrics, weights, history = fit(p, splits_dir, tmp_path / "uninterrupted")
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    assert json.loads((tmp_path / "history.json").read_text()) == history
    resumed = load_file(out / "model.safetensors")
    assert all(torch.equal(resumed[name], tensor) for name, tensor in weights.items())


def test_a_checkpoint_of_other_inputs_is_not_resumed(params, splits_dir, tmp_path):
    p = small(params)
    checkpoints = tmp_path / "checkpoints"
    assert train.resumable(checkpoints, train.fingerprint(p.train, splits_dir)) is None
    (checkpoints / "last.ckpt").write_bytes(b"from another run")
    assert train.resumable(checkpoints, train.fingerprint(small(params, seed=7).train, splits_dir)) is None
    assert not (checkpoints / "last.ckpt").exists()
