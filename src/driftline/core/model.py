"""The network itself: plain torch, so the service and SHAP load it without Lightning."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from rtdl_num_embeddings import PeriodicEmbeddings
from safetensors.torch import load_file, save_file
from tabm import LinearEnsemble, MLPBackboneEnsemble, MLPBackboneMiniEnsemble
from torch import nn

from driftline.errors import ConfigError

BATCH_ROWS = 8192  # the network's activations for this many rows take ~100 MB; 64k rows took 4 GB at peak


@torch.inference_mode()
def raw_outputs(model: TabularNet, x: np.ndarray) -> np.ndarray:
    """The network's raw outputs (rows, outputs) for an encoded matrix, BATCH_ROWS at a time."""
    out = [model(torch.from_numpy(x[start : start + BATCH_ROWS])).double().numpy()
           for start in range(0, len(x), BATCH_ROWS)]
    return np.concatenate(out) if out else np.zeros((0, model.outputs))


class TabularNet(nn.Module):
    """Encoded features in, `outputs` values out (core.task: logits, or a standardised target): the mean output
    of `members` MLPs run as one batched network.

    With `embedding` (MLP-PLR, Gorishniy et al. 2022), the encoded columns listed in `embedded` go through
    learned periodic embeddings (`lite`: one output layer shared across columns). The other columns (one-hot
    categories, missing flags) go to the MLPs as they are.

    `sharing` says what the members share (Gorishniy et al. 2024, TabM):
    - packed: nothing. Each member is an MLP with its own periodic embeddings (the columns are repeated once
      per member before one PeriodicEmbeddings layer). The models trained before `sharing` existed.
    - mini: `groups` networks of members // groups members each. In a group the members share the embeddings
      and the MLP, and differ by a learned scaling of the MLP's inputs (TabM-mini): one large matmul per
      layer instead of one small one per member. The groups share nothing (cross-validation trains one per
      fold, core.train).

    With `d_category` (mini only), the one-hot blocks listed in `categories` ([start, end) of each categorical
    column) become learned embeddings of d_category values per column, computed once per row and shared by the
    group's members, instead of one-hot inputs to every member's first layer.

    `logit_offset` undoes a class weighting of the loss (minus the log of each class's weight), so the output
    stays a calibrated logit.
    """

    def __init__(self, in_features: int, embedded: list[int], members: int, blocks: int, width: int,
                 dropout: float, embedding: dict | None = None, logit_offset: float | list[float] = 0.0,
                 outputs: int = 1, sharing: str = "packed", groups: int = 1,
                 categories: list[list[int]] | None = None, d_category: int | None = None):
        super().__init__()
        self.config = {"in_features": in_features, "embedded": list(embedded), "members": members,
                       "blocks": blocks, "width": width, "dropout": dropout, "embedding": embedding}
        if outputs != 1:  # single-output models keep the model.json they had before heads had a width
            self.config["outputs"] = outputs
        if sharing != "packed":  # and packed ones the model.json they had before sharing
            self.config |= {"sharing": sharing, "groups": groups}
        categories = [list(c) for c in categories or []] if d_category is not None else []
        if not categories:
            d_category = None
        if d_category is not None:
            self.config |= {"categories": categories, "d_category": d_category}
        if members % groups:
            raise ConfigError(f"{members} members do not split into {groups} groups")
        if d_category is not None and sharing == "packed":
            raise ConfigError("category embeddings need sharing: mini")
        self.members, self.outputs, self.sharing, self.groups = members, outputs, sharing, groups
        if embedding is None:
            embedded = []
        one_hot = [i for start, end in categories for i in range(start, end)]
        passthrough = sorted(set(range(in_features)) - set(embedded) - set(one_hot))
        self.register_buffer("embedded", torch.tensor(embedded, dtype=torch.long))
        # derived from model.json's categories, so not saved: models packaged before it existed load as they were
        self.register_buffer("one_hot", torch.tensor(one_hot, dtype=torch.long), persistent=False)
        self.register_buffer("passthrough", torch.tensor(passthrough, dtype=torch.long))
        d_embedding = embedding["d_embedding"] if embedded else 0
        d_in = len(embedded) * d_embedding + len(categories) * (d_category or 0) + len(passthrough)
        # Which encoded column each backbone input comes from (the same for every member).
        self.sources = ([i for i in embedded for _ in range(d_embedding)]
                        + [start for start, _ in categories for _ in range(d_category or 0)] + passthrough)
        if sharing == "packed":
            self.embeddings = PeriodicEmbeddings(members * len(embedded), **embedding) if embedded else None
            self.category_embeddings = None
            self.backbone = nn.Sequential(
                MLPBackboneEnsemble(d_in=d_in, n_blocks=blocks, d_block=width, dropout=dropout, k=members),
                LinearEnsemble(width, outputs, k=members),
            )
        else:
            k = members // groups
            self.embeddings = nn.ModuleList(
                PeriodicEmbeddings(len(embedded), **embedding) for _ in range(groups)) if embedded else None
            self.category_embeddings = nn.ModuleList(
                CategoryEmbeddings(categories, d_category) for _ in range(groups)) if categories else None
            # TabM's initialisation of the scaling draws one value per chunk: an embedded column, or one input.
            chunks = [d_embedding] * len(embedded) + [d_category] * len(categories) + [1] * len(passthrough)
            self.backbone = Groups([nn.Sequential(
                mini_backbone(d_in, blocks, width, dropout, k, chunks), LinearEnsemble(width, outputs, k=k))
                for _ in range(groups)])
        self.register_buffer("logit_offset", torch.tensor(logit_offset, dtype=torch.float32))

    def member_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """(rows, members, backbone inputs): what each member's MLP sees."""
        rows = len(x)
        rest = x[:, self.passthrough]
        if self.sharing == "packed":
            if self.embeddings is None:
                return rest.unsqueeze(1).expand(rows, self.members, -1)
            numbers = x[:, self.embedded].repeat(1, self.members)  # member-major: (rows, members * embedded)
            embedded = self.embeddings(numbers).reshape(rows, self.members, -1)
            return torch.cat([embedded, rest.unsqueeze(1).expand(rows, self.members, -1)], dim=2)
        k = self.members // self.groups
        parts = [[] for _ in range(self.groups)]
        if self.embeddings is not None:
            numbers = x[:, self.embedded]
            for part, embeddings in zip(parts, self.embeddings):
                part.append(embeddings(numbers).flatten(1))
        if self.category_embeddings is not None:
            one_hot = x[:, self.one_hot]
            for part, embeddings in zip(parts, self.category_embeddings):
                part.append(embeddings(one_hot))
        return torch.cat([torch.cat([*part, rest], dim=1).unsqueeze(1).expand(rows, k, -1) for part in parts], dim=1)

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
        saved = model.state_dict().keys()
        # the buffers derived from model.json were saved by the models packaged between c870f6c and their
        # being marked not persistent: they are built again, not read
        derived = {name for name, _ in model.named_buffers()} - saved
        model.load_state_dict({k: v for k, v in load_file(Path(directory) / "model.safetensors").items()
                               if k not in derived})
        return model.eval()


class CategoryEmbeddings(nn.Module):
    """Learned embeddings of categorical columns from their one-hot blocks: (rows, one-hot inputs) in, (rows,
    columns * d) out. Block c's rows of `weight` are its categories' embeddings; a one-hot row picks one."""

    def __init__(self, categories: list[list[int]], d: int):
        super().__init__()
        sizes = [end - start for start, end in categories]
        self.shape = (sum(sizes), len(sizes), d)
        self.weight = nn.Parameter(torch.empty(sum(sizes), d).uniform_(-d**-0.5, d**-0.5))  # as rtdl's
        self.register_buffer("column", torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes)),
                             persistent=False)  # derived from the categories, as TabularNet's one_hot

    def forward(self, one_hot: torch.Tensor) -> torch.Tensor:
        table = self.weight.new_zeros(self.shape)  # block diagonal: (one-hot inputs, columns, d)
        table[torch.arange(self.shape[0], device=one_hot.device), self.column] = self.weight
        return one_hot @ table.flatten(1)


class Groups(nn.Module):
    """Networks side by side: (rows, members, inputs) split evenly over them along the members, each network's
    (rows, its members, outputs) joined back."""

    def __init__(self, networks: list[nn.Module]):
        super().__init__()
        self.networks = nn.ModuleList(networks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.networks) == 1:
            return self.networks[0](x)
        parts = x.chunk(len(self.networks), dim=1)
        return torch.cat([network(part) for network, part in zip(self.networks, parts)], dim=1)


def mini_backbone(d_in: int, blocks: int, width: int, dropout: float, k: int, chunks: list[int]) -> nn.Module:
    """tabm's TabM-mini MLP (its initialisation: a normal scaling, one draw per input chunk), with Dropout."""
    backbone = MLPBackboneMiniEnsemble(d_in=d_in, n_blocks=blocks, d_block=width, dropout=dropout, k=k,
                                       affine_bias=False, affine_scaling_init="normal",
                                       affine_scaling_init_chunks=chunks)
    for block in backbone.blocks:
        for index, layer in enumerate(block):
            if isinstance(layer, nn.Dropout):
                block[index] = Dropout(layer.p)
    return backbone


class Dropout(nn.Module):
    """nn.Dropout whose mask compares random bytes with the rate rounded to 1/256, four bytes per 32-bit draw.

    On a CPU, torch's Bernoulli mask costs more than the layer's matmul: nn.Dropout's forward and backward take
    2.9 ms for 256 rows x 8 members x 200 units on 2 cores, this one 1.2 ms (tests/unit/test_model.py holds it
    to nn.Dropout's statistics). The class name is nn.Dropout's, so SHAP's DeepExplainer passes it through.
    """

    def __init__(self, p: float):
        super().__init__()
        self.p, self.cut = p, round(p * 256)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.cut == 0:
            return x
        n = x.numel()
        draws = torch.randint(-2**31, 2**31, (-(-n // 4),), dtype=torch.int32, device=x.device)
        keep = draws.view(torch.uint8)[:n].view(x.shape) >= self.cut
        return x * (keep.to(x.dtype) * (256 / (256 - self.cut)))
