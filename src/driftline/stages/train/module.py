"""The LightningModule around TabularNet: the task's loss, optimiser and schedule, the task's validation metric."""

from __future__ import annotations

import math

import lightning as L
import torch
from torch.nn import functional as F
from torchmetrics import MeanMetric, MeanSquaredError
from torchmetrics.classification import BinaryAUROC

from driftline.config import TrainParams
from driftline.core.encoding import Transform
from driftline.core.failpoints import failpoint
from driftline.core.model import TabularNet
from driftline.core.task import Task


class Learner(L.LightningModule):
    """The task's loss on each member's own outputs (binary cross-entropy, cross-entropy, squared error on the
    standardised target, or under a Poisson link the Poisson deviance of the count), AdamW with warmup and cosine
    decay, and the task's validation metric (val_auc, val_log_loss or val_rmse: standardised, or in the count's
    units under a Poisson link), which early stopping and the best checkpoint follow.

    WEIGHTS: class weights of the loss (the positive class's for binary, one per class for multiclass; 1.0:
    none). The network's logit offset undoes them, so its outputs stay calibrated.

    PILOT: a short run that chooses a setting (train.pilot), where no failpoint fires.

    FOLDS > 1 (cross-validation, SplitData): the network holds FOLDS groups of `members` members, group j
    learning on the rows outside fold j only, and validation scores each row by its own fold's group. The
    network served averages every member, so it is the folds' ensemble. `sharing: auto` shares nothing between
    members then (packed), and shares the MLP within each group otherwise (mini, TabularNet).
    """

    def __init__(self, transform: Transform, params: TrainParams, task: Task, weights: float | list[float] = 1.0,
                 folds: int = 1, pilot: bool = False):
        super().__init__()
        self.save_hyperparameters({"in_features": transform.width, "weights": weights, "task": task.kind,
                                   "folds": folds, **params.model_dump()})
        embedding = params.embedding.model_dump() if params.model == "mlp_plr" else None
        sharing = params.sharing if params.sharing != "auto" else ("packed" if folds > 1 else "mini")
        mini = sharing == "mini"
        self.net = TabularNet(transform.width, transform.scores, params.members * folds, params.blocks, params.width,
                              params.dropout, embedding, TabularNet.offset_for(weights), task.outputs, sharing,
                              folds if mini else 1, transform.categories, params.category_embedding if mini else None)
        self.folds, self.pilot = folds, pilot
        self.params, self.kind = params, task.kind
        # Under a Poisson link the raw output z is log(prediction) - offset (core.encoding.TargetScale).
        self.log_offset = transform.target.mean if transform.target is not None and transform.target.poisson else None
        self.register_buffer("weights", torch.tensor(weights, dtype=torch.float32))
        self.metric_name = f"val_{task.stop_metric}"
        self.val_metric = {"binary": BinaryAUROC, "multiclass": MeanMetric,
                           "regression": lambda: MeanSquaredError(squared=False)}[task.kind]()

    def on_train_epoch_start(self):
        if not self.pilot:  # the fault tests: `train.epoch:2` dies once the first epoch's checkpoint is written
            failpoint("train.epoch")
        torch.manual_seed(self.params.seed * 100_003 + self.current_epoch)

    def loss(self, outputs: torch.Tensor, y: torch.Tensor, fold: torch.Tensor | None = None) -> torch.Tensor:
        """The task's loss of (rows, members, outputs) raw outputs: each member learns on its own, and with
        FOLD (each row's fold) only on the rows outside its group's fold."""
        members = outputs.shape[1]
        reduction = "mean" if fold is None else "none"
        if self.kind == "multiclass":
            weight = self.weights.expand(outputs.shape[2]) if self.weights.ndim == 0 else self.weights
            losses = F.cross_entropy(outputs.flatten(0, 1), y.repeat_interleave(members), weight=weight,
                                     reduction=reduction)
            if fold is None:
                return losses
            keep = self.learns(fold, members).flatten().float()
            # a weighted cross-entropy's mean divides by the rows' class weights, as torch's "mean" does
            return (losses * keep).sum() / (weight[y.repeat_interleave(members)] * keep).sum()
        outputs = outputs[..., 0]
        target = y[:, None].expand_as(outputs)
        if self.kind == "binary":
            losses = F.binary_cross_entropy_with_logits(outputs, target, pos_weight=self.weights, reduction=reduction)
        elif self.log_offset is not None:
            losses = F.poisson_nll_loss(outputs.float() + self.log_offset, target, log_input=True, reduction=reduction)
        else:
            losses = F.mse_loss(outputs, target, reduction=reduction)
        if fold is None:
            return losses
        keep = self.learns(fold, members).float()
        return (losses * keep).sum() / keep.sum()

    def learns(self, fold: torch.Tensor, members: int) -> torch.Tensor:
        """(rows, members): whether each member learns on each row, i.e. the row is outside its group's fold."""
        group = torch.arange(members, device=fold.device) // (members // self.folds)
        return group[None, :] != fold[:, None]

    def oof_outputs(self, x: torch.Tensor, fold: torch.Tensor) -> torch.Tensor:
        """(rows, outputs): each row scored by the group of members that never learned on it."""
        outputs = self.net.member_outputs(x)
        grouped = outputs.reshape(len(x), self.folds, -1, outputs.shape[2]).mean(dim=2)
        return grouped[torch.arange(len(x), device=x.device), fold] + self.net.logit_offset

    def training_step(self, batch, _):
        x, y, *fold = batch
        loss = self.loss(self.net.member_outputs(x), y, *fold)
        # Synced: the epoch's loss over every rank's rows, not rank 0's alone (a no-op in one process).
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(y), sync_dist=True)
        return loss

    def validation_step(self, batch, _):
        x, y, *fold = batch
        out = self.oof_outputs(x, *fold) if fold else self.net(x)
        if self.kind == "binary":
            self.val_metric.update(torch.sigmoid(out[:, 0]).float(), y.long())
        elif self.kind == "multiclass":
            self.val_metric.update(F.cross_entropy(out.float(), y, reduction="none"))
        elif self.log_offset is not None:
            self.val_metric.update(torch.exp(out[:, 0].float() + self.log_offset), y)
        else:
            self.val_metric.update(out[:, 0].float(), y)

    def on_validation_epoch_end(self):
        self.log(self.metric_name, self.val_metric.compute())
        self.val_metric.reset()

    def configure_optimizers(self):
        # No weight decay on the embeddings or the biases (as in the MLP-PLR recipe).
        decayed = {n: p for n, p in self.net.named_parameters()
                   if not n.startswith(("embeddings.", "category_embeddings.")) and not n.endswith("bias")}
        rest = [p for n, p in self.net.named_parameters() if n not in decayed]
        optimizer = torch.optim.AdamW([{"params": list(decayed.values()), "weight_decay": self.params.weight_decay},
                                       {"params": rest, "weight_decay": 0.0}], lr=self.params.learning_rate)
        total = self.trainer.estimated_stepping_batches
        warmup = self.params.warmup_epochs * total // self.trainer.max_epochs

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))

        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
