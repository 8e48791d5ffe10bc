"""The gradient-boosting member: LightGBM boosters on the raw columns, read through the fitted transform.

Numbers go in as they are (LightGBM keeps missing values apart by itself). A category goes in as its slot
in the transform's vocabulary (core.encoding: CategoricalEncoding.slots), a native categorical feature:
rare categories share the unknown slot, as they do in the network's one-hot block, and a missing value is
missing. The boosters' raw output is the network's (core.task): logits, or the target through its link
(core.encoding.TargetScale), so the two members blend in one space. Under cross-validation there is one
booster per fold, and the member's output is their mean.

The model is plain text (LightGBM's own format, inside trees.json), so the service loads it without pickle.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np

from driftline.core.encoding import TargetScale, Transform

TREES_FILE = "trees.json"
SMALL_BATCH = 256  # fewer rows than this are scored on one thread: OpenMP's start costs more than the trees
CLASSIFICATION = {"binary": ("binary", "binary_logloss"), "multiclass": ("multiclass", "multi_logloss")}


def objective(kind: str, scale: TargetScale | None) -> tuple[str, str]:
    """LightGBM's objective and early-stopping metric for a task KIND (and a regression's link SCALE): the
    task's loss, squared error on the standardised target, or the Poisson loss stopped on squared error in
    the target's units (LightGBM's metrics read the prediction, exp of the raw score)."""
    if kind != "regression":
        return CLASSIFICATION[kind]
    return ("poisson", "l2") if scale is not None and scale.poisson else ("regression", "l2")


def dataset(x: np.ndarray, y: np.ndarray, cats: list[int], scale: TargetScale | None,
            reference: lgb.Dataset | None = None) -> lgb.Dataset:
    """A LightGBM data set of X and the learned targets Y. Under the Poisson link each row starts from the
    scale's mean (init_score), so that the trees' raw score is the network's z = log(prediction) - mean."""
    start = np.full(len(y), scale.mean) if scale is not None and scale.poisson else None
    return lgb.Dataset(x, y, categorical_feature=cats, init_score=start, reference=reference,
                       free_raw_data=reference is None)


def matrix(transform: Transform, columns: Mapping[str, Sequence]) -> np.ndarray:
    """Typed columns (as Transform.encode takes them) as the boosters' float64 matrix: one column per raw
    column, categories as their slots, NaN where missing."""
    rows = len(columns[transform.columns[0]]) if transform.columns else 0
    out = np.empty((rows, len(transform.columns)), dtype=np.float64)
    for index, name in enumerate(transform.columns):
        if name in transform.numeric:
            out[:, index] = np.asarray(columns[name], dtype=np.float64)
        else:
            encoding = transform.categorical[name]
            slots = encoding.slots(columns[name]).astype(np.float64)
            out[:, index] = np.where(slots == len(encoding.vocabulary) + 1, np.nan, slots)
    return out


def threads(x: np.ndarray) -> int:
    """LightGBM's prediction threads for X: one for a small batch, OpenMP's default (0) otherwise."""
    return 1 if len(x) < SMALL_BATCH else 0


def categorical(transform: Transform) -> list[int]:
    """Positions of the categorical columns in `matrix`."""
    return [i for i, name in enumerate(transform.columns) if name in transform.categorical]


@dataclass
class Trees:
    """One LightGBM booster per fold (one without cross-validation), and the width of their raw output."""

    boosters: list[lgb.Booster]
    outputs: int

    def raw(self, x: np.ndarray) -> np.ndarray:
        """(rows, outputs) raw outputs for a `matrix`: the boosters' mean."""
        total = sum(b.predict(x, raw_score=True, num_threads=threads(x)) for b in self.boosters)
        return np.asarray(total, dtype=np.float64).reshape(len(x), self.outputs) / len(self.boosters)

    def contributions(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """TreeSHAP attributions of every raw output, (rows, columns, outputs), and the base values, (outputs,):
        LightGBM's own (path-dependent: the base is the expectation over the training rows the trees saw, the
        same for every row). They add up to `raw` exactly. shap's interventional TreeExplainer does not read native
        categorical splits (shap issue #5132: off by 11.9 on a small test), so the trees are explained by
        the library that grew them."""
        total = sum(b.predict(x, pred_contrib=True, num_threads=threads(x)) for b in self.boosters)
        parts = np.asarray(total, dtype=np.float64).reshape(len(x), self.outputs, -1) / len(self.boosters)
        return np.ascontiguousarray(parts[:, :, :-1].transpose(0, 2, 1)), parts[:1, :, -1].reshape(self.outputs)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / TREES_FILE).write_text(json.dumps(
            {"outputs": self.outputs, "boosters": [b.model_to_string() for b in self.boosters]}))

    @classmethod
    def load(cls, directory: str | Path) -> Trees:
        raw = json.loads((Path(directory) / TREES_FILE).read_text())
        return cls([lgb.Booster(model_str=text) for text in raw["boosters"]], raw["outputs"])
