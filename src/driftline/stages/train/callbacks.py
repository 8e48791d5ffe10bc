"""Trainer callbacks: the per-epoch history, and the per-epoch reseeding that makes a resumed run exact."""

from __future__ import annotations

from lightning.pytorch.callbacks import Callback

from driftline.errors import ConfigError


class History(Callback):
    """Per-epoch train loss and the validation metric MONITOR (as `val_metric`, so that dvc.yaml plots every
    task's curve alike), for the DVC training-curve plot; kept in checkpoints."""

    def __init__(self, monitor: str):
        self.monitor = monitor
        self.rows: list[dict] = []

    def on_train_epoch_end(self, trainer, module):  # runs after the epoch's validation
        metrics = trainer.callback_metrics
        self.rows.append(
            {"epoch": trainer.current_epoch, "val_metric": float(metrics[self.monitor]),
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
