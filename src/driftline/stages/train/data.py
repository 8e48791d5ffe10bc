"""The Lightning data module: encoded train and validation splits, whole on the training device."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import numpy as np
import torch

from driftline.config import Params
from driftline.core.encoding import Transform
from driftline.core.splits import cv_folds, fold_count, load_split
from driftline.core.task import Task
from driftline.stages.train.batches import TensorBatches, batch_size, epoch_rows, schedule_epochs, val_sample


class SplitData(L.LightningDataModule):
    """Encoded train and validation splits (the validation sample), kept whole on the training device, with the
    task's targets: 0/1 floats (binary), class codes (multiclass), the target as its link learns it
    (regression), and the schedule's length in epochs (`epochs`: batches.schedule_epochs).

    Below train.cv_below_rows training rows, early stopping does not score the validation split: each
    training row gets a cross-validation fold (`folds`), every fold's model learns on the other folds' rows,
    and validation scores each training row by the model that did not see it (core.model: member groups).
    The validation split stays out of training altogether, for the decision fitted after it.
    """

    def __init__(self, splits_dir: Path, params: Params):
        super().__init__()
        cfg = params.train
        self.task = task = Task.of(params.schema)
        self.transform = transform = Transform.load(splits_dir / "transform.json")
        self.batches = {}
        train, val = load_split(splits_dir, "train"), val_sample(load_split(splits_dir, "val"), cfg)
        self.folds = fold_count(len(train), cfg)
        # The class weights need the labels in train, and the validation metric (early stopping, or the decision
        # fitted after training) in val.
        y_train, y_val = task.targets(train), task.targets(val)
        task.require(y_train, "training")
        task.require(y_val, "validation")
        x, y = torch.from_numpy(transform(train)), torch.from_numpy(self._typed(y_train))
        fold = torch.from_numpy(cv_folds(task.strata(y_train), self.folds, cfg.seed)) if self.folds > 1 else None
        rows = epoch_rows(len(train), cfg)
        size = batch_size(cfg.batch_size, rows)
        self.batches["train"] = TensorBatches(x, y, size, shuffle=True, rows=rows, fold=fold)
        self.epochs = schedule_epochs(math.ceil(rows / size), cfg)
        if self.folds == 1:  # with folds, validation scores the training rows themselves, out of fold
            x, y = torch.from_numpy(transform(val)), torch.from_numpy(self._typed(y_val))
        self.batches["val"] = TensorBatches(x, y, cfg.batch_size, shuffle=False, fold=fold)

    def _typed(self, y: np.ndarray) -> np.ndarray:
        if self.task.kind == "multiclass":
            return y.astype(np.int64)
        if self.task.kind == "regression":
            return self.transform.target.learned(y).astype(np.float32)
        return y.astype(np.float32)

    @property
    def class_weights(self) -> float | list[float]:
        """Balanced class weights of the training split: the positive class's (binary), or rows / (classes x
        rows of the class) for each class (multiclass; an absent class counts as one row)."""
        y = self.batches["train"].y
        if self.task.kind == "binary":
            return float((len(y) - y.sum()) / y.sum())
        counts = np.maximum(np.bincount(y.cpu().numpy(), minlength=self.task.outputs), 1)
        return (len(y) / (len(counts) * counts)).tolist()

    def setup(self, stage: str) -> None:
        device = self.trainer.strategy.root_device if self.trainer else torch.device("cpu")
        for batches in self.batches.values():
            batches.to(device)
            if self.trainer:
                batches.shard(self.trainer.global_rank, self.trainer.world_size)

    def train_dataloader(self):
        return self.batches["train"]

    def val_dataloader(self):
        return self.batches["val"]
