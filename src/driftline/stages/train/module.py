"""The LightningModule around TabularNet: loss, optimiser and schedule, validation AUC."""

from __future__ import annotations

import math

import lightning as L
import torch
from torchmetrics.classification import BinaryAUROC

from driftline.config import TrainParams
from driftline.core.model import TabularNet


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
