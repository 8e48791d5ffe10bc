"""The network itself: plain torch, so the service and SHAP load it without Lightning."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from rtdl_num_embeddings import PeriodicEmbeddings
from safetensors.torch import load_file, save_file
from tabm import LinearEnsemble, MLPBackboneEnsemble
from torch import nn


class TabularNet(nn.Module):
    """Encoded features in, `outputs` values out (core.task: logits, or a standardised target): the mean output
    of `members` MLPs run as one batched network.

    With `embedding` (MLP-PLR, Gorishniy et al. 2022), the encoded columns listed in `embedded` go
    through learned periodic embeddings, and every member has its own: the columns are repeated once
    per member before one PeriodicEmbeddings layer, so each member learns its own frequencies (and,
    unless `lite`, its own output layer per column; `lite` shares one across columns and members). The
    other columns (one-hot categories, missing flags) go to every member as they are. `logit_offset`
    undoes a class weighting of the loss (minus the log of each class's weight), so the output stays a
    calibrated logit.
    """

    def __init__(self, in_features: int, embedded: list[int], members: int, blocks: int, width: int,
                 dropout: float, embedding: dict | None = None, logit_offset: float | list[float] = 0.0,
                 outputs: int = 1):
        super().__init__()
        self.config = {"in_features": in_features, "embedded": list(embedded), "members": members,
                       "blocks": blocks, "width": width, "dropout": dropout, "embedding": embedding}
        if outputs != 1:  # single-output models keep the model.json they had before heads had a width
            self.config["outputs"] = outputs
        self.members, self.outputs = members, outputs
        if embedding is None:
            embedded = []
        passthrough = sorted(set(range(in_features)) - set(embedded))
        self.register_buffer("embedded", torch.tensor(embedded, dtype=torch.long))
        self.register_buffer("passthrough", torch.tensor(passthrough, dtype=torch.long))
        self.embeddings = PeriodicEmbeddings(members * len(embedded), **embedding) if embedded else None
        d_embedding = embedding["d_embedding"] if embedded else 0
        d_in = len(embedded) * d_embedding + len(passthrough)
        self.backbone = nn.Sequential(
            MLPBackboneEnsemble(d_in=d_in, n_blocks=blocks, d_block=width, dropout=dropout, k=members),
            LinearEnsemble(width, outputs, k=members),
        )
        # Which encoded column each backbone input comes from (the same for every member).
        self.sources = [i for i in embedded for _ in range(d_embedding)] + passthrough
        self.register_buffer("logit_offset", torch.tensor(logit_offset, dtype=torch.float32))

    def member_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """(rows, members, backbone inputs): what each member's MLP sees."""
        rows = len(x)
        rest = x[:, self.passthrough].unsqueeze(1).expand(rows, self.members, -1)
        if self.embeddings is None:
            return rest
        numbers = x[:, self.embedded].repeat(1, self.members)  # member-major: (rows, members * embedded)
        embedded = self.embeddings(numbers).reshape(rows, self.members, -1)
        return torch.cat([embedded, rest], dim=2)

    def member_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """(rows, members, outputs) raw outputs, without the offset: what the loss trains."""
        return self.backbone(self.member_inputs(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(rows, outputs): the members' mean, offset."""
        return self.member_outputs(x).mean(dim=1) + self.logit_offset

    @staticmethod
    def offset_for(weights: float | list[float]) -> float | list[float]:
        """The logit offset that undoes class WEIGHTS in the loss (the positive class's, or one per class)."""
        return -math.log(weights) if isinstance(weights, float) else [-math.log(w) for w in weights]

    def save(self, directory: Path) -> None:
        """model.safetensors (weights) and model.json (architecture)."""
        directory.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, directory / "model.safetensors")
        (directory / "model.json").write_text(json.dumps(self.config))

    @classmethod
    def load(cls, directory: Path) -> TabularNet:
        model = cls(**json.loads((Path(directory) / "model.json").read_text()))
        model.load_state_dict(load_file(Path(directory) / "model.safetensors"))
        return model.eval()
