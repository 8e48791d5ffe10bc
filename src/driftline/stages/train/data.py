"""The Lightning data module: encoded train and validation splits, whole on the training device."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch

from driftline.config import Params
from driftline.core.data import labels, require_both_labels
from driftline.core.encoding import Transform
from driftline.core.splits import load_split
from driftline.stages.train.batches import TensorBatches, batch_size, epoch_rows, val_sample


class SplitData(L.LightningDataModule):
    """Encoded train and validation splits (the validation sample), kept whole on the training device."""

    def __init__(self, splits_dir: Path, params: Params):
        super().__init__()
        cfg = params.train
        self.transform = transform = Transform.load(splits_dir / "transform.json")
        self.batches = {}
        for name, split in (("train", "training"), ("val", "validation")):
            frame = load_split(splits_dir, name)
            frame = frame if name == "train" else val_sample(frame, cfg)
            y = labels(frame, params.schema)
            # The class weight needs both labels in train, and validation AUC (early stopping) in val.
            require_both_labels(y, split, params.schema)
            x, y = torch.from_numpy(transform(frame)), torch.from_numpy(y.astype(np.float32))
            if name == "train":
                rows = epoch_rows(len(frame), cfg)
                self.batches[name] = TensorBatches(x, y, batch_size(cfg.batch_size, rows), shuffle=True, rows=rows)
            else:
                self.batches[name] = TensorBatches(x, y, cfg.batch_size, shuffle=False)
        self.in_features = transform.width

    @property
    def positive_weight(self) -> float:
        y = self.batches["train"].y
        return float((len(y) - y.sum()) / y.sum())

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
