"""train stage: a LightningModule around TabularMLP, early-stopped on validation AUC."""

from __future__ import annotations

import os
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from torchmetrics.classification import BinaryAUROC

from driftline.artifacts import write_json
from driftline.config import Params, TrainParams
from driftline.data import labels
from driftline.encoding import Transform
from driftline.featurize import load_split
from driftline.model import TabularMLP


class TensorBatches:
    """Batches sliced from whole-split tensors; much faster than a DataLoader for small rows.

    Shuffled batches come from the global torch RNG, so `seed_everything` makes them repeatable.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool):
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle

    def to(self, device: torch.device) -> None:
        self.x, self.y = self.x.to(device), self.y.to(device)

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __iter__(self):
        n = len(self.x)
        order = torch.randperm(n, device=self.x.device) if self.shuffle else torch.arange(n, device=self.x.device)
        for start in range(0, n, self.batch_size):
            index = order[start : start + self.batch_size]
            yield self.x[index], self.y[index]


class SplitData(L.LightningDataModule):
    """Encoded train and validation splits, kept whole on the training device."""

    def __init__(self, splits_dir: Path, params: Params):
        super().__init__()
        transform = Transform.load(splits_dir / "transform.json")
        self.batches = {}
        for name in ("train", "val"):
            frame = load_split(splits_dir, name)
            x = torch.from_numpy(transform(frame))
            y = torch.from_numpy(labels(frame, params.schema).astype(np.float32))
            self.batches[name] = TensorBatches(x, y, params.train.batch_size, shuffle=name == "train")
        self.in_features = transform.width

    @property
    def positive_weight(self) -> float:
        y = self.batches["train"].y
        return float((len(y) - y.sum()) / y.sum())

    def setup(self, stage: str) -> None:
        device = self.trainer.strategy.root_device if self.trainer else torch.device("cpu")
        for batches in self.batches.values():
            batches.to(device)

    def train_dataloader(self):
        return self.batches["train"]

    def val_dataloader(self):
        return self.batches["val"]


class Classifier(L.LightningModule):
    """Weighted binary cross-entropy, AdamW, validation AUC from torchmetrics."""

    def __init__(self, in_features: int, params: TrainParams, pos_weight: float):
        super().__init__()
        self.save_hyperparameters({"in_features": in_features, "pos_weight": pos_weight, **params.model_dump()})
        self.net = TabularMLP(in_features, params.hidden_sizes, params.dropout, params.members,
                              TabularMLP.offset_for(pos_weight))
        self.params = params
        self.loss = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight))
        self.val_auc = BinaryAUROC()

    def training_step(self, batch, _):
        x, y = batch
        # Each member learns on its own (raw, unshifted) logit; the average is the model.
        logits = self.net.member_logits(x)
        loss = self.loss(logits, y[:, None].expand_as(logits))
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
        return loss

    def validation_step(self, batch, _):
        x, y = batch
        self.val_auc.update(torch.sigmoid(self.net(x).squeeze(1)).float(), y.long())

    def on_validation_epoch_end(self):
        self.log("val_auc", self.val_auc.compute())
        self.val_auc.reset()

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.params.learning_rate, weight_decay=self.params.weight_decay)


class History(Callback):
    """Per-epoch train loss and validation AUC, for the DVC training-curve plot."""

    def __init__(self):
        self.rows: list[dict] = []

    def on_train_epoch_end(self, trainer, module):  # runs after the epoch's validation
        metrics = trainer.callback_metrics
        self.rows.append(
            {"epoch": trainer.current_epoch, "val_auc": float(metrics["val_auc"]),
             "train_loss": float(metrics.get("train_loss", float("nan")))}
        )


def trainer_settings(params: TrainParams) -> dict:
    """bf16 mixed precision on a GPU, full precision on a CPU, unless params.yaml pins one."""
    on_gpu = params.accelerator == "gpu" or (params.accelerator == "auto" and torch.cuda.is_available())
    if on_gpu:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # needed by deterministic cuBLAS
    precision = params.precision if params.precision != "auto" else ("bf16-mixed" if on_gpu else "32-true")
    return {"accelerator": "gpu" if on_gpu else "cpu", "precision": precision}


def run(params: Params, splits_dir: Path, out_dir: Path, metrics_path: Path, history_path: Path) -> dict:
    """Fit the model; write model.safetensors + model.json, checkpoints, metrics and history."""
    cfg = params.train
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    data = SplitData(splits_dir, params)
    pos_weight = data.positive_weight if cfg.class_weight == "balanced" else 1.0
    module = Classifier(data.in_features, cfg, pos_weight)
    checkpoint = ModelCheckpoint(dirpath=out_dir / "checkpoints", monitor="val_auc", mode="max", save_top_k=1)
    history = History()
    trainer = L.Trainer(
        **trainer_settings(cfg),
        devices=1,
        max_epochs=cfg.max_epochs,
        callbacks=[EarlyStopping("val_auc", mode="max", patience=cfg.patience), checkpoint, history],
        deterministic=True,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    started = time.perf_counter()
    trainer.fit(module, datamodule=data)
    seconds = time.perf_counter() - started
    best = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
    module.load_state_dict(best)
    module.net.cpu().eval().save(out_dir)
    metrics = {
        "best_val_auc": float(checkpoint.best_model_score),
        "epochs": trainer.current_epoch,
        "seconds": round(seconds, 2),
        "seconds_per_epoch": round(seconds / max(trainer.current_epoch, 1), 3),
        "accelerator": trainer_settings(cfg)["accelerator"],
    }
    write_json(metrics_path, metrics)
    write_json(history_path, history.rows)
    return metrics
