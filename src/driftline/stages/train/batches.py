"""Training batches: sliced from whole-split tensors, sized for small data, and the budget's row samples."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import torch

from driftline.config import MAX_STRETCH, TrainParams

log = logging.getLogger(__name__)

MIN_BATCHES = 8  # optimiser steps per epoch, at least, on small training splits


class TensorBatches:
    """Batches sliced from whole-split tensors; much faster than a DataLoader for small rows.

    Shuffled batches come from the global torch RNG, so `seed_everything` makes them repeatable. A pass
    takes the first ROWS of its order (all for None): shuffled, a fresh sample every epoch. With FOLD (each
    row's cross-validation fold), batches are (x, y, fold) rather than (x, y).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool, rows: int | None = None,
                 fold: torch.Tensor | None = None):
        self.x, self.y, self.fold, self.batch_size, self.shuffle = x, y, fold, batch_size, shuffle
        self.rows = len(x) if rows is None else min(rows, len(x))
        self.rank, self.world = 0, 1

    def to(self, device: torch.device) -> None:
        self.x, self.y = self.x.to(device), self.y.to(device)
        if self.fold is not None:
            self.fold = self.fold.to(device)

    def shard(self, rank: int, world: int) -> None:
        """Serve process RANK of WORLD: every WORLD-th row of each pass from RANK on, in batches of
        batch_size / WORLD, so that the k-th batches of all ranks together are one process's k-th batch.

        Lightning adds a DistributedSampler only to DataLoaders, so this is the sharding under DDP.
        """
        self.rank, self.world = rank, world

    @property
    def rank_batch(self) -> int:
        """This rank's share of a batch."""
        return -(-self.batch_size // self.world)

    @property
    def pass_rows(self) -> int:
        """Rows of a pass over all ranks. Every training rank must take the same number of steps (each backward
        waits on all of them), so training leaves out the last rows % world of its shuffled order (other rows
        each epoch); validation scores every row."""
        return self.rows - self.rows % self.world if self.shuffle else self.rows

    def __len__(self) -> int:
        return -(-len(range(self.rank, self.pass_rows, self.world)) // self.rank_batch)

    def __iter__(self):
        n = len(self.x)
        order = torch.randperm(n, device=self.x.device) if self.shuffle else torch.arange(n, device=self.x.device)
        if self.shuffle and self.rank:
            # Every rank draws the same permutation (each takes its share of it), but the dropout masks that
            # follow must differ between ranks: all but rank 0 go on from a seed of their own.
            torch.manual_seed(hash((torch.initial_seed(), self.rank)))
        mine = order[: self.pass_rows][self.rank :: self.world]
        for start in range(0, len(mine), self.rank_batch):
            index = mine[start : start + self.rank_batch]
            yield (self.x[index], self.y[index]) if self.fold is None else (self.x[index], self.y[index],
                                                                            self.fold[index])


def batch_size(configured: int, rows: int) -> int:
    """The configured batch size, made smaller where needed so that an epoch of ROWS takes MIN_BATCHES steps.

    On a few hundred rows a batch of 256 is one optimiser step per epoch: a dozen steps in all, which
    leaves the network about where it started.
    """
    size = min(configured, max(1, math.ceil(rows / MIN_BATCHES)))
    if size < configured:
        log.info("train: batch_size %d -> %d, so that an epoch of %d rows takes %d steps", configured, size, rows,
                 math.ceil(rows / size))
    return size


def schedule_epochs(steps_per_epoch: int, params: TrainParams) -> int:
    """Epochs of the learning-rate schedule: max_epochs, or where those take fewer than min_steps optimiser
    steps, enough epochs to take them, up to MAX_STRETCH x max_epochs."""
    needed = math.ceil(params.min_steps / max(steps_per_epoch, 1))
    epochs = max(params.max_epochs, min(needed, MAX_STRETCH * params.max_epochs))
    if epochs > params.max_epochs:
        log.info("train: %d epochs of %d steps, so that the schedule takes %d steps (min_steps %d)", epochs,
                 steps_per_epoch, epochs * steps_per_epoch, params.min_steps)
    return epochs


def epoch_rows(rows: int, params: TrainParams) -> int:
    """Training rows an epoch draws: all ROWS, unless max_epochs of them would exceed max_rows."""
    if params.max_rows is None or rows * params.max_epochs <= params.max_rows:
        return rows
    sample = math.ceil(params.max_rows / params.max_epochs)
    log.info("train: each epoch samples %s of %s training rows (max_rows %s over %d epochs)", f"{sample:,}",
             f"{rows:,}", f"{params.max_rows:,}", params.max_epochs)
    return sample


def val_sample(frame: pd.DataFrame, params: TrainParams) -> pd.DataFrame:
    """At most val_rows rows of the validation split, drawn once from the seed and kept in their order.

    A numpy generator of its own, so that the torch RNG (the network's initial weights) is left as it was.
    """
    if params.val_rows is None or len(frame) <= params.val_rows:
        return frame
    keep = np.sort(np.random.default_rng(params.seed).choice(len(frame), params.val_rows, replace=False))
    log.info("train: early stopping scores %s of %s validation rows (val_rows)", f"{params.val_rows:,}",
             f"{len(frame):,}")
    return frame.iloc[keep]
