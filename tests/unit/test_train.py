"""The train stage's parts that train nothing: the datamodule, the row and validation budgets, the batches each
rank takes, cross-validation's folds and what resuming accepts."""

import logging

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from driftline.config import load_params
from driftline.core.encoding import Transform
from driftline.core.task import Task
from driftline.errors import ConfigError
from driftline.stages.train.batches import TensorBatches, schedule_epochs, val_sample
from driftline.stages.train.checkpoints import fingerprint, resumable
from driftline.stages.train.data import SplitData, cv_folds
from driftline.stages.train.module import Learner
from tests.helpers.project import REPO, small_budget


def test_split_data_encodes_both_splits(params, adult_splits):
    data = SplitData(adult_splits, small_budget(params))
    transform = Transform.load(adult_splits / "transform.json")
    train_frame = pd.read_parquet(adult_splits / "train.parquet")
    y = Task.of(params.schema).targets(train_frame)
    assert data.batches["train"].x.shape == (len(train_frame), transform.width)
    np.testing.assert_array_equal(data.batches["train"].y.numpy(), y)
    assert data.class_weights == pytest.approx((len(y) - y.sum()) / y.sum())
    assert data.batches["train"].shuffle and not data.batches["val"].shuffle


def test_a_checkpoint_of_other_inputs_is_not_resumed(params, adult_splits, tmp_path):
    p = small_budget(params)
    checkpoints = tmp_path / "checkpoints"
    assert resumable(checkpoints, fingerprint(p.train, adult_splits)) is None
    (checkpoints / "last.ckpt").write_bytes(b"from another run")
    other = fingerprint(small_budget(params, seed=7).train, adult_splits)
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


def test_val_rows_scores_one_seeded_sample(params, adult_splits, caplog):
    caplog.set_level(logging.INFO, logger="driftline")
    val = pd.read_parquet(adult_splits / "val.parquet")
    sample = val_sample(val, small_budget(params, val_rows=100).train)
    assert f"100 of {len(val)} validation rows" in caplog.text
    assert len(sample) == 100 and sample.index.is_monotonic_increasing and set(sample.index) <= set(val.index)
    assert sample.index.equals(val_sample(val, small_budget(params, val_rows=100).train).index)
    assert not sample.index.equals(val_sample(val, small_budget(params, val_rows=100, seed=1).train).index)
    assert val_sample(val, small_budget(params, val_rows=len(val)).train) is val

    data = SplitData(adult_splits, small_budget(params, val_rows=100))
    assert len(data.batches["val"].x) == 100


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


def test_below_cv_below_rows_early_stopping_scores_the_training_folds(params, adult_splits):
    rows = len(pd.read_parquet(adult_splits / "train.parquet"))
    data = SplitData(adult_splits, small_budget(params, cv_below_rows=rows + 1, cv_folds=3))
    train, val = data.batches["train"], data.batches["val"]
    assert data.folds == 3 and torch.equal(val.x, train.x) and torch.equal(val.fold, train.fold)
    sizes = torch.bincount(train.fold)
    assert sizes.sum() == rows and sizes.max() - sizes.min() <= 2
    assert SplitData(adult_splits, small_budget(params, cv_below_rows=rows)).folds == 1  # at the bound: the val split


def test_each_folds_members_learn_only_outside_their_fold_and_score_it(params, adult_splits, tmp_path):
    """One optimiser step on rows of fold 0 alone moves every member but fold 0's own; validation scores a row
    by its fold's members only, and the network served averages all of them."""
    p = small_budget(params, cv_below_rows=10**6, cv_folds=3, weight_decay=0.0, dropout=0.0)
    data = SplitData(adult_splits, p)
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


@pytest.mark.parametrize(("steps_per_epoch", "min_steps", "epochs"), [
    (87, 1000, 12),  # Adult's 22,092 rows in batches of 256: 12 epochs take 1,044 steps already
    (55, 1000, 19),  # 14,000 rows: stretched to take 1,000 steps
    (8, 1000, 48),  # a small table: at most 4 x max_epochs
    (8, 0, 12),  # no minimum
])
def test_the_schedule_stretches_to_take_min_steps_on_a_small_table(steps_per_epoch, min_steps, epochs):
    cfg = load_params(REPO / "params.yaml").train.model_copy(update={"max_epochs": 12, "min_steps": min_steps})
    assert schedule_epochs(steps_per_epoch, cfg) == epochs
