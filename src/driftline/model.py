"""The network itself: plain torch, so the service and SHAP load it without Lightning."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn


def _mlp(in_features: int, hidden_sizes: list[int], dropout: float) -> nn.Sequential:
    # Each activation is its own module: SHAP's DeepExplainer mis-attributes a module reused twice.
    layers: list[nn.Module] = []
    width = in_features
    for size in hidden_sizes:
        layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
        width = size
    return nn.Sequential(*layers, nn.Linear(width, 1))


class TabularMLP(nn.Module):
    """Encoded features in, one logit out: the mean logit of `members` independently initialised MLPs.

    Averaging a few members closes most of the gap to gradient boosting on small tables at little
    cost. `logit_offset` undoes the class weighting of the loss (minus the log of the positive
    weight), so the sigmoid of the output stays a calibrated probability.
    """

    def __init__(self, in_features: int, hidden_sizes: list[int], dropout: float, members: int = 1,
                 logit_offset: float = 0.0):
        super().__init__()
        self.members = nn.ModuleList(_mlp(in_features, hidden_sizes, dropout) for _ in range(members))
        self.config = {"in_features": in_features, "hidden_sizes": list(hidden_sizes), "dropout": dropout,
                       "members": members}
        self.register_buffer("logit_offset", torch.tensor(float(logit_offset)))

    def member_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(rows, members) raw logits, without the offset: what the weighted loss trains."""
        return torch.cat([member(x) for member in self.members], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.member_logits(x).mean(dim=1, keepdim=True) + self.logit_offset

    @staticmethod
    def offset_for(pos_weight: float) -> float:
        return -math.log(pos_weight)

    def save(self, directory: Path) -> None:
        """model.safetensors (weights) and model.json (architecture)."""
        directory.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, directory / "model.safetensors")
        (directory / "model.json").write_text(json.dumps(self.config))

    @classmethod
    def load(cls, directory: Path) -> TabularMLP:
        model = cls(**json.loads((Path(directory) / "model.json").read_text()))
        model.load_state_dict(load_file(Path(directory) / "model.safetensors"))
        return model.eval()
