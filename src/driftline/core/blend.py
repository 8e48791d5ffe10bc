"""The model served: a weighted blend of the members' raw outputs (core.task: logits, or the target through its
link), the weights chosen on validation by greedy ensemble selection.

The members are the Lightning ensemble (`deep`: core.model) and the LightGBM boosters (`boost`: core.trees).
A member of weight 0 is neither loaded nor run; a model packaged before blends is its network alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import softmax
from sklearn.metrics import log_loss, roc_auc_score, root_mean_squared_error

from driftline.core.data import columns_of
from driftline.core.encoding import TargetScale, Transform
from driftline.core.model import TabularNet, raw_outputs
from driftline.core.task import Task
from driftline.core.trees import TREES_FILE, Trees, matrix

MEMBERS = ("deep", "boost")  # in order of preference where they tie
DEEP_ONLY = {"deep": 1.0}
PRIMARY_SELECTION = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}


def selection_metric(task: Task, y: np.ndarray, scale: TargetScale | None = None
                     ) -> tuple[Callable[[np.ndarray], float], bool]:
    """The task's validation metric of raw outputs for targets Y (PRIMARY_SELECTION: the AUC, the log loss, or the
    RMSE in the target's units, through a regression's SCALE), and whether higher is better."""
    if task.kind == "binary":
        return lambda raw: roc_auc_score(y, raw[:, 0]), True
    if task.kind == "multiclass":
        labels = np.arange(task.outputs)
        return lambda raw: log_loss(y, softmax(raw, axis=1), labels=labels), False
    return lambda raw: root_mean_squared_error(y, scale.decode(raw[:, 0])), False


def select(raw: Mapping[str, np.ndarray], loss: Callable[[np.ndarray], float], rounds: int) -> dict[str, float]:
    """Caruana et al. (2004) ensemble selection with replacement, as AutoGluon weighs its models: ROUNDS times,
    add the member whose addition gives the lowest LOSS of the running mean (the first in RAW's order on a
    tie), and keep the round whose mean had the lowest loss (AutoGluon's use_best). The first round takes the
    best member alone, so the blend is never worse than it on these rows. A member's weight is its share of
    the kept rounds; members never chosen are left out."""
    chosen, total, best, kept = Counter(), None, np.inf, {}
    for count in range(1, rounds + 1):
        tried = {name: loss(out if total is None else (total + out) / count) for name, out in raw.items()}
        pick = min(tried, key=tried.get)
        chosen[pick] += 1
        total = raw[pick] if total is None else total + raw[pick]
        if tried[pick] < best:
            best, kept = tried[pick], {name: chosen[name] / count for name in raw if chosen[name]}
    return kept


def decision_blend(decision: dict) -> dict:
    """A decision's `blend`: the members' weights, the validation metric that chose them and each one's score;
    a model decided before blends is its network alone."""
    return decision.get("blend", {"weights": dict(DEEP_ONLY)})


def blended(raw: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """The weighted sum of the members' raw outputs."""
    return sum(weight * raw[name] for name, weight in weights.items())


@dataclass
class Blend:
    """The members with a weight, and the transform that reads their inputs."""

    transform: Transform
    weights: dict[str, float]
    net: TabularNet | None = None
    trees: Trees | None = None

    @classmethod
    def load(cls, transform: Transform, weights: Mapping[str, float], net_dir: str | Path,
             trees_dir: str | Path | None = None) -> Blend:
        """The members of WEIGHTS from their folders (the network's and the boosters', one folder in a bento)."""
        weights = {name: float(w) for name, w in weights.items() if w > 0}
        net = TabularNet.load(Path(net_dir)) if "deep" in weights else None
        trees = Trees.load(Path(trees_dir or net_dir)) if "boost" in weights else None
        return cls(transform, weights, net, trees)

    @staticmethod
    def has_trees(directory: str | Path) -> bool:
        return (Path(directory) / TREES_FILE).exists()

    def members(self, columns: Mapping[str, Sequence]) -> dict[str, np.ndarray]:
        """Each member's raw outputs (rows, outputs) for typed columns (as Transform.encode takes them)."""
        out = {}
        if "deep" in self.weights:
            out["deep"] = raw_outputs(self.net, self.transform.encode(columns))
        if "boost" in self.weights:
            out["boost"] = self.trees.raw(matrix(self.transform, columns))
        return out

    def raw(self, columns: Mapping[str, Sequence]) -> np.ndarray:
        """The blend's raw outputs for typed columns."""
        return blended(self.members(columns), self.weights)

    def raw_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """The blend's raw outputs for a frame holding the transform's columns (a split, say)."""
        return self.raw(columns_of(frame, self.transform.columns))
