"""The train stage: the Lightning module and datamodule, and the seeded end-to-end run, on small Adult slices."""

import json
import logging
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

from driftline.config import load_params
from driftline.core.data import coerce
from driftline.core.encoding import Transform
from driftline.core.splits import split
from driftline.core.task import Task
from driftline.errors import ConfigError
from driftline.stages import train
from driftline.stages.train.batches import TensorBatches, val_sample
from driftline.stages.train.callbacks import History
from driftline.stages.train.checkpoints import fingerprint, resumable
from driftline.stages.train.data import SplitData, cv_folds
from driftline.stages.train.module import Learner

REPO = Path(__file__).resolve().parents[2]
ROWS = 3000  # train 2,100 / val 450 / test 450


@pytest.fixture(scope="module")
def splits_dir(params, tmp_path_factory) -> Path:
    """train/val/test parquet files and transform.json, as the featurize stage writes them, from the first rows."""
    raw = pd.read_csv(REPO / "data" / "adult.csv", skipinitialspace=True, na_values=["?"], keep_default_na=False,
                      nrows=ROWS)
    frame = coerce(raw, params.schema)
    y = pd.Series(Task.of(params.schema).targets(frame), index=frame.index)
    cfg = params.featurize
    parts = split(frame, y, cfg.val_size, cfg.test_size, cfg.seed)
    out = tmp_path_factory.mktemp("splits")
    for name, part in parts.items():
        part.reset_index(drop=True).to_parquet(out / f"{name}.parquet", index=False)
    Transform.fit(parts["train"], params.schema, cfg).save(out / "transform.json")
    return out


def small(params, **train):
    """params with a tiny CPU training budget; `train` overrides TrainParams fields."""
    settings = {"members": 2, "blocks": 1, "width": 16, "max_epochs": 2, "accelerator": "cpu", "precision": "32-true",
                "cv_below_rows": None}
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
    y = Task.of(params.schema).targets(train_frame)
    assert data.batches["train"].x.shape == (len(train_frame), transform.width)
    np.testing.assert_array_equal(data.batches["train"].y.numpy(), y)
    assert data.class_weights == pytest.approx((len(y) - y.sum()) / y.sum())
    assert data.batches["train"].shuffle and not data.batches["val"].shuffle


def test_fast_dev_run_takes_a_training_and_a_validation_step(params, splits_dir, tmp_path):
    L.seed_everything(0, verbose=False)
    p = small(params)
    data = SplitData(splits_dir, p)
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


def test_training_loss_falls(params, splits_dir, tmp_path):
    L.seed_everything(0, verbose=False)
    p = small(params, learning_rate=0.003, batch_size=128, dropout=0.0)
    data = SplitData(splits_dir, p)
    module = Learner(data.transform, p.train, data.task, data.class_weights)
    history = History("val_auc")
    quiet_trainer(tmp_path, max_epochs=6, callbacks=[history], num_sanity_val_steps=0,
                  deterministic=True).fit(module, datamodule=data)

    losses = [row["train_loss"] for row in history.rows]
    assert len(losses) == 6 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.8 * losses[0], losses
    assert history.rows[-1]["val_metric"] > 0.8, history.rows


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
    assert resumable(checkpoints, fingerprint(p.train, splits_dir)) is None
    (checkpoints / "last.ckpt").write_bytes(b"from another run")
    other = fingerprint(small(params, seed=7).train, splits_dir)
    # Under DDP the ranks other than 0 decide the same, but leave the clearing to rank 0.
    assert resumable(checkpoints, other, owner=False) is None
    assert (checkpoints / "last.ckpt").exists()
    assert resumable(checkpoints, other) is None
    assert not (checkpoints / "last.ckpt").exists()


def passes(batches: TensorBatches, seed: int) -> list[torch.Tensor]:
    """The row numbers of each batch of one pass (X holds each row's number), the global RNG seeded first."""
    torch.manual_seed(seed)
    return [x[:, 0].long() for x, _ in batches]


def test_a_row_budget_takes_the_first_rows_of_each_epochs_permutation():
    rows = torch.arange(100, dtype=torch.float32)[:, None]
    batches = TensorBatches(rows, torch.zeros(100), batch_size=16, shuffle=True, rows=40)
    first = torch.cat(passes(batches, seed=3))
    torch.manual_seed(3)
    assert torch.equal(first, torch.randperm(100)[:40])
    assert len(batches) == 3 and len(passes(batches, seed=3)) == 3
    assert set(torch.cat(passes(batches, seed=4)).tolist()) != set(first.tolist())  # another epoch, another sample


@pytest.mark.parametrize(("rows", "shuffle"), [(40, True), (39, True), (39, False)])
def test_ranks_share_each_batch_of_one_process(rows, shuffle):
    """Two ranks with batches of 8 each: the k-th batches of both together are the k-th batch of 16 of one
    process. Training ranks take equal steps (an odd row out), validation ones score every row once."""
    x = torch.arange(rows, dtype=torch.float32)[:, None]
    one = passes(TensorBatches(x, torch.zeros(rows), 16, shuffle), seed=5)
    ranks = []
    for rank in (0, 1):
        batches = TensorBatches(x, torch.zeros(rows), 16, shuffle)
        batches.shard(rank, 2)
        ranks.append(passes(batches, seed=5))
        assert len(batches) == len(ranks[-1]) == len(one)
    for k, whole in enumerate(one):
        together = set(ranks[0][k].tolist()) | set(ranks[1][k].tolist())
        assert together == set(whole.tolist()) or (shuffle and k == len(one) - 1 and together < set(whole.tolist()))
    scored = torch.cat([*ranks[0], *ranks[1]])
    assert len(scored) == (rows - rows % 2 if shuffle else rows) == len(set(scored.tolist()))


def test_max_rows_samples_each_epoch_and_sets_the_steps(params, splits_dir, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="driftline")
    rows = len(pd.read_parquet(splits_dir / "train.parquet"))
    p = small(params, max_rows=2000, batch_size=64)  # 2 epochs of 1,000 training rows
    data = SplitData(splits_dir, p)
    assert f"each epoch samples 1,000 of {rows:,} training rows" in caplog.text
    assert data.batches["train"].rows == 1000 and len(data.batches["train"]) == 16
    module = Learner(data.transform, p.train, data.task, data.class_weights)
    steps = Steps()
    quiet_trainer(tmp_path, max_epochs=2, callbacks=[steps], num_sanity_val_steps=0).fit(module, datamodule=data)
    assert steps.train == 2 * 16

    caplog.clear()
    unlimited = SplitData(splits_dir, small(params, max_rows=2 * rows, batch_size=64))
    assert unlimited.batches["train"].rows == rows and "samples" not in caplog.text


def test_val_rows_scores_one_seeded_sample(params, splits_dir, capsys):
    val = pd.read_parquet(splits_dir / "val.parquet")
    sample = val_sample(val, small(params, val_rows=100).train)
    assert f"100 of {len(val)} validation rows" in capsys.readouterr().err
    assert len(sample) == 100 and sample.index.is_monotonic_increasing and set(sample.index) <= set(val.index)
    assert sample.index.equals(val_sample(val, small(params, val_rows=100).train).index)
    assert not sample.index.equals(val_sample(val, small(params, val_rows=100, seed=1).train).index)
    assert val_sample(val, small(params, val_rows=len(val)).train) is val

    data = SplitData(splits_dir, small(params, val_rows=100))
    assert len(data.batches["val"].x) == 100


def test_max_minutes_stops_the_fit_and_keeps_the_best_model(params, splits_dir, tmp_path):
    p = small(params, max_epochs=200, patience=200, max_minutes=0.001)
    metrics, weights, history = fit(p, splits_dir, tmp_path)
    assert 1 <= metrics["epochs"] < 200 and len(history) == metrics["epochs"]
    assert weights and not list((tmp_path / "checkpoints").glob("*.ckpt"))


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"max_rows": 0}, "train.max_rows"),
        ({"val_rows": 0}, "train.val_rows"),
        ({"max_minutes": 0}, "train.max_minutes"),
        ({"strategy": "fsdp"}, "train.strategy"),
        ({"devices": 0}, "train.devices"),
        ({"num_nodes": 0}, "train.num_nodes"),
        ({"devices": 2}, "strategy 'auto' trains in one process"),
        ({"num_nodes": 2}, "strategy 'auto' trains in one process"),
    ],
)
def test_bad_budget_or_processes_fail_naming_the_key(tmp_path, values, named):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["train"].update(values)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=named):
        load_params(tmp_path / "params.yaml")


def test_cross_validation_folds_are_stratified_and_seeded():
    strata = np.repeat([0, 1, 2], [500, 300, 200])
    fold = cv_folds(strata, 5, seed=3)
    for number in range(5):
        assert np.bincount(strata[fold == number]).tolist() == [100, 60, 40]
    np.testing.assert_array_equal(fold, cv_folds(strata, 5, seed=3))
    assert not np.array_equal(fold, cv_folds(strata, 5, seed=4))


def test_below_cv_below_rows_early_stopping_scores_the_training_folds(params, splits_dir):
    rows = len(pd.read_parquet(splits_dir / "train.parquet"))
    data = SplitData(splits_dir, small(params, cv_below_rows=rows + 1, cv_folds=3))
    train, val = data.batches["train"], data.batches["val"]
    assert data.folds == 3 and torch.equal(val.x, train.x) and torch.equal(val.fold, train.fold)
    sizes = torch.bincount(train.fold)
    assert sizes.sum() == rows and sizes.max() - sizes.min() <= 2
    assert SplitData(splits_dir, small(params, cv_below_rows=rows)).folds == 1  # at the bound: the val split


def test_each_folds_members_learn_only_outside_their_fold_and_score_it(params, splits_dir, tmp_path):
    """One optimiser step on rows of fold 0 alone moves every member but fold 0's own; validation scores a row
    by its fold's members only, and the network served averages all of them."""
    p = small(params, cv_below_rows=10**6, cv_folds=3, weight_decay=0.0, dropout=0.0)
    data = SplitData(splits_dir, p)
    module = Learner(data.transform, p.train, data.task, 1.0, data.folds)
    assert module.net.members == 6
    train = data.batches["train"]
    x, y, fold = train.x[train.fold == 0][:64], train.y[train.fold == 0][:64], train.fold[train.fold == 0][:64]
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    before = {k: v.clone() for k, v in module.net.backbone.state_dict().items()}
    module.loss(module.net.member_outputs(x), y, fold).backward()
    optimizer.step()
    for name, weights in module.net.backbone.state_dict().items():
        if weights.shape[0] == 6:  # (members, ...) tensors of the batched MLPs
            assert torch.equal(weights[:2], before[name][:2]), name  # fold 0's group saw none of its own rows
            assert not torch.equal(weights[2:], before[name][2:]), name
    module.eval()
    with torch.no_grad():
        outputs = module.net.member_outputs(train.x[:50])
        expected = outputs.reshape(50, 3, 2, 1).mean(dim=2)[torch.arange(50), train.fold[:50]]
        torch.testing.assert_close(module.oof_outputs(train.x[:50], train.fold[:50]), expected)
        torch.testing.assert_close(module.net(train.x[:50]), outputs.mean(dim=1))


@pytest.mark.parametrize("sharing", ["auto", "mini"])
def test_a_cross_validated_run_early_stops_on_the_folds_and_saves_their_ensemble(params, splits_dir, tmp_path,
                                                                                 sharing):
    """auto shares nothing between members when it cross-validates; mini gives each fold its own network."""
    # three epochs of 8 steps (2,100 rows): a learning rate that learns something in 24 steps
    p = small(params, cv_below_rows=10**6, cv_folds=3, max_epochs=3, learning_rate=0.01, sharing=sharing)
    metrics = train.run(p, splits_dir, tmp_path / "model", tmp_path / "checkpoints", tmp_path / "metrics.json",
                        tmp_path / "history.json")
    assert 0.75 < metrics["best_val_auc"] <= 1 and metrics["epochs"] == 3
    config = json.loads((tmp_path / "model" / "model.json").read_text())
    assert config["members"] == 6
    assert config.get("sharing", "packed") == ("packed" if sharing == "auto" else "mini")
    assert config.get("groups") == (None if sharing == "auto" else 3)
