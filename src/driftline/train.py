"""train stage: a LightningModule around TabularNet, early-stopped on validation AUC, resumable.

Every epoch reseeds the global RNG from (seed, epoch), so shuffling and dropout do not depend on the
epochs before: a run resumed from the last checkpoint ends exactly where an uninterrupted run does.

Budget: params.yaml `max_rows` caps the training rows seen over the run (each epoch then samples the
first rows of its permutation), `val_rows` the validation rows early stopping scores, `max_minutes` the
time. With `strategy: ddp` every process (rank) takes its share of each batch; only rank 0 writes.
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
import time
import warnings
from datetime import timedelta
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.strategies import DDPStrategy
from torchmetrics.classification import BinaryAUROC

from driftline.artifacts import write_json
from driftline.config import Params, TrainParams
from driftline.data import labels, require_both_labels
from driftline.encoding import Transform
from driftline.errors import ConfigError
from driftline.featurize import load_split
from driftline.model import TabularNet

MIN_BATCHES = 8  # optimiser steps per epoch, at least, on small training splits

# The checkpoint folder holds the fingerprint file before the first checkpoint: not a stale run's leftovers.
warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
# Under DDP, val_auc is the same on every rank already: BinaryAUROC gathers the predictions of all of them.
warnings.filterwarnings("ignore", message=r"It is recommended to use `self.log\('val_auc'")


class TensorBatches:
    """Batches sliced from whole-split tensors; much faster than a DataLoader for small rows.

    Shuffled batches come from the global torch RNG, so `seed_everything` makes them repeatable. A pass
    takes the first ROWS of its order (all for None): shuffled, a fresh sample every epoch.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool, rows: int | None = None):
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle
        self.rows = len(x) if rows is None else min(rows, len(x))
        self.rank, self.world = 0, 1

    def to(self, device: torch.device) -> None:
        self.x, self.y = self.x.to(device), self.y.to(device)

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
            yield self.x[index], self.y[index]


def batch_size(configured: int, rows: int) -> int:
    """The configured batch size, made smaller where needed so that an epoch of ROWS takes MIN_BATCHES steps.

    On a few hundred rows a batch of 256 is one optimiser step per epoch: a dozen steps in all, which
    leaves the network about where it started.
    """
    size = min(configured, max(1, math.ceil(rows / MIN_BATCHES)))
    if size < configured:
        print(f"train: batch_size {configured} -> {size}, so that an epoch of {rows} rows takes "
              f"{math.ceil(rows / size)} steps", file=sys.stderr)
    return size


def epoch_rows(rows: int, params: TrainParams) -> int:
    """Training rows an epoch draws: all ROWS, unless max_epochs of them would exceed max_rows."""
    if params.max_rows is None or rows * params.max_epochs <= params.max_rows:
        return rows
    sample = math.ceil(params.max_rows / params.max_epochs)
    print(f"train: each epoch samples {sample:,} of {rows:,} training rows (max_rows {params.max_rows:,} over "
          f"{params.max_epochs} epochs)", file=sys.stderr)
    return sample


def val_sample(frame: pd.DataFrame, params: TrainParams) -> pd.DataFrame:
    """At most val_rows rows of the validation split, drawn once from the seed and kept in their order.

    A numpy generator of its own, so that the torch RNG (the network's initial weights) is left as it was.
    """
    if params.val_rows is None or len(frame) <= params.val_rows:
        return frame
    keep = np.sort(np.random.default_rng(params.seed).choice(len(frame), params.val_rows, replace=False))
    print(f"train: early stopping scores {params.val_rows:,} of {len(frame):,} validation rows (val_rows)",
          file=sys.stderr)
    return frame.iloc[keep]


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


class Classifier(L.LightningModule):
    """Binary cross-entropy averaged over the members, AdamW with warmup and cosine decay, validation AUC."""

    def __init__(self, in_features: int, embedded: list[int], params: TrainParams, pos_weight: float):
        super().__init__()
        self.save_hyperparameters({"in_features": in_features, "pos_weight": pos_weight, **params.model_dump()})
        embedding = params.embedding.model_dump() if params.model == "mlp_plr" else None
        self.net = TabularNet(in_features, embedded, params.members, params.blocks, params.width, params.dropout,
                              embedding, TabularNet.offset_for(pos_weight))
        self.params = params
        self.loss = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight))
        self.val_auc = BinaryAUROC()

    def on_train_epoch_start(self):
        torch.manual_seed(self.params.seed * 100_003 + self.current_epoch)

    def training_step(self, batch, _):
        x, y = batch
        # Each member learns on its own (raw, unshifted) logit; the average is the model.
        logits = self.net.member_logits(x)
        loss = self.loss(logits, y[:, None].expand_as(logits))
        # Synced: the epoch's loss over every rank's rows, not rank 0's alone (a no-op in one process).
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(y), sync_dist=True)
        return loss

    def validation_step(self, batch, _):
        x, y = batch
        self.val_auc.update(torch.sigmoid(self.net(x).squeeze(1)).float(), y.long())

    def on_validation_epoch_end(self):
        self.log("val_auc", self.val_auc.compute())
        self.val_auc.reset()

    def configure_optimizers(self):
        # No weight decay on the embeddings or the biases (as in the MLP-PLR recipe).
        decayed = {n: p for n, p in self.net.named_parameters() if not n.startswith("embeddings.")
                   and not n.endswith("bias")}
        rest = [p for n, p in self.net.named_parameters() if n not in decayed]
        optimizer = torch.optim.AdamW([{"params": list(decayed.values()), "weight_decay": self.params.weight_decay},
                                       {"params": rest, "weight_decay": 0.0}], lr=self.params.learning_rate)
        total = self.trainer.estimated_stepping_batches
        warmup = self.params.warmup_epochs * total // self.params.max_epochs

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))

        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class History(Callback):
    """Per-epoch train loss and validation AUC, for the DVC training-curve plot; kept in checkpoints."""

    def __init__(self):
        self.rows: list[dict] = []

    def on_train_epoch_end(self, trainer, module):  # runs after the epoch's validation
        metrics = trainer.callback_metrics
        self.rows.append(
            {"epoch": trainer.current_epoch, "val_auc": float(metrics["val_auc"]),
             "train_loss": float(metrics.get("train_loss", float("nan")))}
        )

    def state_dict(self) -> dict:
        return {"rows": self.rows}

    def load_state_dict(self, state: dict) -> None:
        self.rows = state["rows"]


class SameStart(Callback):
    """Stops every rank when they disagree on resuming (a checkpoint folder that not every node sees): ranks
    that start from different epochs would train apart, then wait on each other."""

    def on_fit_start(self, trainer, module):
        resumed, strategy = trainer.ckpt_path is not None, trainer.strategy
        if strategy.reduce_boolean_decision(resumed, all=True) != strategy.reduce_boolean_decision(resumed, all=False):
            raise ConfigError("some ranks found the last checkpoint and others did not: put the checkpoint folder "
                              "where every node sees it, or empty it on every node to start afresh")


def trainer_settings(params: TrainParams) -> dict:
    """bf16 mixed precision on a GPU, full precision on a CPU, unless params.yaml pins one; the processes and
    the time limit."""
    on_gpu = params.accelerator == "gpu" or (params.accelerator == "auto" and torch.cuda.is_available())
    if on_gpu:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # needed by deterministic cuBLAS
    precision = params.precision if params.precision != "auto" else ("bf16-mixed" if on_gpu else "32-true")
    # The network's buffers are constants. Syncing them before each forward (DDP's default) is a collective in
    # every validation batch too, and one rank may hold a validation batch more: its last would meet no partner.
    strategy = DDPStrategy(forward_sync_buffers=False) if params.strategy == "ddp" else "auto"
    return {"accelerator": "gpu" if on_gpu else "cpu", "precision": precision, "strategy": strategy,
            "devices": params.devices, "num_nodes": params.num_nodes,
            "max_time": None if params.max_minutes is None else timedelta(minutes=params.max_minutes)}


def splits_digest(splits_dir: Path) -> str:
    """sha256 of what training reads from the featurize outputs: the transform and the train and val splits."""
    digest = hashlib.sha256()
    for name in ("transform.json", "train.parquet", "val.parquet"):
        digest.update(hashlib.sha256((splits_dir / name).read_bytes()).digest())
    return digest.hexdigest()


def fingerprint(params: TrainParams, splits_dir: Path) -> str:
    """What a checkpoint must have been trained on to be resumed: the train params and the splits."""
    return hashlib.sha256((params.model_dump_json() + splits_digest(splits_dir)).encode()).hexdigest()


def resumable(checkpoint_dir: Path, key: str, owner: bool = True) -> tuple[Path, int] | None:
    """The last checkpoint of an interrupted run on the same inputs and the epoch it resumes at; the OWNER
    (rank 0) clears any other state.

    The other ranks only read, and decide as the owner does even while it clears: it removes the stale
    checkpoints before it writes the new fingerprint, and no checkpoint is written before every rank has
    decided (training waits for all of them).
    """
    last, stamp = checkpoint_dir / "last.ckpt", checkpoint_dir / "fingerprint"
    if last.is_file() and stamp.is_file() and stamp.read_text() == key:
        try:
            return last, torch.load(last, map_location="cpu", weights_only=False)["epoch"] + 1
        except Exception as exc:  # a kill while the checkpoint was written leaves a torn file
            print(f"train: starting afresh, the last checkpoint does not load ({exc})", file=sys.stderr)
    if not owner:
        return None
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    for old in checkpoint_dir.glob("*.ckpt"):
        old.unlink()
    stamp.write_text(key)
    return None


def run(params: Params, splits_dir: Path, out_dir: Path, checkpoint_dir: Path, metrics_path: Path,
        history_path: Path, callbacks: list[Callback] | None = None) -> dict:
    """Fit the model; write model.safetensors + model.json, metrics and history.

    CHECKPOINT_DIR keeps the best and the last checkpoint while training runs (dvc.yaml marks it
    `persist`, so DVC leaves it in place): a rerun after a kill resumes from the last one. A finished
    run removes them. CALLBACKS join the trainer's own (driftline tune prunes with one). Under DDP every
    rank returns the metrics, and rank 0 alone writes.
    """
    cfg = params.train
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    data = SplitData(splits_dir, params)
    pos_weight = data.positive_weight if cfg.class_weight == "balanced" else 1.0
    module = Classifier(data.in_features, data.transform.scores, cfg, pos_weight)
    checkpoint = ModelCheckpoint(dirpath=checkpoint_dir, filename="best", monitor="val_auc", mode="max",
                                 save_top_k=1, save_last=True, enable_version_counter=False)
    history = History()
    settings = trainer_settings(cfg)
    trainer = L.Trainer(
        **settings,
        max_epochs=cfg.max_epochs,
        gradient_clip_val=cfg.gradient_clip,
        callbacks=[EarlyStopping("val_auc", mode="max", patience=cfg.patience), checkpoint, history, SameStart(),
                   *(callbacks or [])],
        deterministic=True,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    # The Trainer knows its process's rank from the start (LOCAL_RANK, NODE_RANK), before DDP launches.
    resume = resumable(checkpoint_dir, fingerprint(cfg, splits_dir), owner=trainer.is_global_zero)
    last, first_epoch = resume or (None, 0)
    if last is not None:
        print(f"train: resuming from {last} at epoch {first_epoch}", file=sys.stderr)
    started = time.perf_counter()
    trainer.fit(module, datamodule=data, ckpt_path=last)
    seconds = time.perf_counter() - started
    epochs = trainer.current_epoch
    metrics = {"best_val_auc": float(checkpoint.best_model_score), "epochs": epochs,
               "best_epoch": max(history.rows, key=lambda r: r["val_auc"])["epoch"]}
    if not trainer.is_global_zero:
        return metrics
    best = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
    module.load_state_dict(best)
    module.net.cpu().eval().save(out_dir)
    rows = (epochs - first_epoch) * data.batches["train"].rows
    # Timings vary from run to run, so they go to the log, not to the metrics DVC compares.
    print(f"train: {epochs} epochs ({epochs - first_epoch} in this run) in {seconds:.1f} s, "
          f"{rows / seconds:.0f} rows/s on {settings['devices'] * settings['num_nodes']} x "
          f"{settings['accelerator']}", file=sys.stderr)
    write_json(metrics_path, metrics)
    write_json(history_path, history.rows)
    for done in checkpoint_dir.glob("*.ckpt"):
        done.unlink()
    return metrics
