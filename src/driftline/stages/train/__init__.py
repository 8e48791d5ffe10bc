"""train stage: a LightningModule around TabularNet, early-stopped on the task's validation metric, resumable.

Every epoch reseeds the global RNG from (seed, epoch), so shuffling and dropout do not depend on the
epochs before: a run resumed from the last checkpoint ends exactly where an uninterrupted run does.

Budget: `max_epochs` of the schedule, stretched on a small table to take `min_steps` optimiser steps
(batches.schedule_epochs); `max_rows` caps the training rows seen over the run (each epoch then samples the
first rows of its permutation), `val_rows` the validation rows early stopping scores, `max_minutes` the
time. With `pilot_scales`, short pilot runs choose the embedding's frequency scale first (pilot.py). With
`strategy: ddp` every process (rank) takes its share of each batch; only rank 0 writes.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.strategies import DDPStrategy

from driftline.config import Params, TrainParams
from driftline.core.artifacts import write_json
from driftline.core.verbosity import quiet, stage_line
from driftline.errors import ConfigError
from driftline.stages.train.callbacks import History, SameStart
from driftline.stages.train.checkpoints import fingerprint, resumable
from driftline.stages.train.data import SplitData
from driftline.stages.train.module import Learner
from driftline.stages.train.pilot import pilot_scale, with_scale

log = logging.getLogger(__name__)


@contextmanager
def lightning_quiet() -> Iterator[None]:
    """Lightning's banners (devices, tips) and the warnings that do not apply to this stage, off for the block."""
    with quiet("lightning.pytorch", "lightning.fabric"), warnings.catch_warnings():
        # The checkpoint folder holds the fingerprint file before the first checkpoint: not a stale run's leftovers.
        warnings.filterwarnings("ignore", r"Checkpoint directory .* exists and is not empty", UserWarning)
        # Under DDP, the validation metric is the same on every rank already: torchmetrics gathers every rank's state.
        warnings.filterwarnings("ignore", r"It is recommended to use `self.log\('val_", UserWarning)
        yield


def trainer_settings(params: TrainParams) -> dict:
    """The Trainer's settings that the full run and the pilots share: bf16 mixed precision on a GPU, full
    precision on a CPU, unless params.yaml pins one; the processes, the time limit, the gradient clip, and no
    logger, bar, summary or sanity check."""
    on_gpu = params.accelerator == "gpu" or (params.accelerator == "auto" and torch.cuda.is_available())
    if on_gpu:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # needed by deterministic cuBLAS
    precision = params.precision if params.precision != "auto" else ("bf16-mixed" if on_gpu else "32-true")
    # The network's buffers are constants. Syncing them before each forward (DDP's default) is a collective in
    # every validation batch too, and one rank may hold a validation batch more: its last would meet no partner.
    strategy = DDPStrategy(forward_sync_buffers=False) if params.strategy == "ddp" else "auto"
    return {"accelerator": "gpu" if on_gpu else "cpu", "precision": precision, "strategy": strategy,
            "devices": params.devices, "num_nodes": params.num_nodes,
            "max_time": None if params.max_minutes is None else timedelta(minutes=params.max_minutes),
            "gradient_clip_val": params.gradient_clip, "deterministic": True, "logger": False,
            "enable_progress_bar": False, "enable_model_summary": False, "num_sanity_val_steps": 0}


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
    task = data.task
    if cfg.class_weight == "balanced" and task.kind == "regression":
        raise ConfigError("train.class_weight: 'balanced' weighs classes; a regression has none (set none)")
    weights = data.class_weights if cfg.class_weight == "balanced" else 1.0
    settings = trainer_settings(cfg)
    with lightning_quiet():
        scale, pilots = pilot_scale(data, cfg, task, weights, settings)
    module = Learner(data.transform, with_scale(cfg, scale), task, weights, data.folds)
    monitor, mode = module.metric_name, task.stop_mode
    checkpoint = ModelCheckpoint(dirpath=checkpoint_dir, filename="best", monitor=monitor, mode=mode,
                                 save_top_k=1, save_last=True, enable_version_counter=False)
    history = History(monitor)
    with lightning_quiet():
        trainer = L.Trainer(
            **settings,
            max_epochs=data.epochs,
            callbacks=[EarlyStopping(monitor, mode=mode, patience=cfg.patience), checkpoint, history, SameStart(),
                       *(callbacks or [])],
        )
        # The Trainer knows its process's rank from the start (LOCAL_RANK, NODE_RANK), before DDP launches.
        resume = resumable(checkpoint_dir, fingerprint(cfg, splits_dir), owner=trainer.is_global_zero)
        last, first_epoch = resume or (None, 0)
        if last is not None:
            log.info("train: resuming from %s at epoch %d", last, first_epoch)
        started = time.perf_counter()
        trainer.fit(module, datamodule=data, ckpt_path=last)
        seconds = time.perf_counter() - started
    epochs = trainer.current_epoch
    best_row = (max if mode == "max" else min)(history.rows, key=lambda r: r["val_metric"])
    metrics = {f"best_{monitor}": float(checkpoint.best_model_score), "epochs": epochs,
               "best_epoch": best_row["epoch"]}
    if pilots:  # the scales tried and the one kept
        metrics |= {"frequency_init_scale": scale} | {f"pilot_{monitor}_scale_{k:g}": v for k, v in pilots.items()}
    if not trainer.is_global_zero:
        return metrics
    best = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
    module.load_state_dict(best)
    module.net.cpu().eval().save(out_dir)
    rows = (epochs - first_epoch) * data.batches["train"].rows
    # Timings vary from run to run, so they go to the log, not to the metrics DVC compares.
    stage_line(f"train: {epochs} epochs ({epochs - first_epoch} in this run) in {seconds:.1f} s, "
               f"{rows / seconds:.0f} rows/s on {settings['devices'] * settings['num_nodes']} x "
               f"{settings['accelerator']}", sys.stderr)
    write_json(metrics_path, metrics)
    write_json(history_path, history.rows)
    for done in checkpoint_dir.glob("*.ckpt"):
        done.unlink()
    return metrics
