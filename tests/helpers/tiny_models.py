"""Tiny packaged models of every task (tests/helpers/tables.py's generated tables), in the BentoML store in a second.

The network keeps its seeded initial weights and the decision is written by hand: the service's tests need
a model that loads, answers in its task's shape and explains, not one that predicts well.
"""

from __future__ import annotations

import json
from pathlib import Path

import bentoml
import pandas as pd
import torch

from driftline.config import load_params
from driftline.core.encoding import TargetScale, Transform
from driftline.core.model import TabularNet
from driftline.core.task import Task
from driftline.schema import Schema
from tests.helpers import tables

REPO = Path(__file__).resolve().parents[2]
FEATURES = {
    "age": {"type": "integer"}, "income": {"type": "float"}, "visits": {"type": "integer"},
    "score": {"type": "float", "max_missing": 0.1},
    "region": {"type": "category", "max_missing": 0.1, "categories": ["north", "south", "east", "west", "centre"]},
    "plan": {"type": "category", "categories": ["basic", "plus", "pro"]},
    "group": {"type": "category", "categories": ["g1", "g2"]},
}
TARGETS = {  # the target of each task's table, its column and the schema's other keys
    "binary": ("churned", {"type": "category", "categories": ["no", "yes"]}, {"positive_label": "yes"}),
    "multiclass": ("segment", {"type": "category", "categories": ["bronze", "silver", "gold", "platinum"]}, {}),
    "regression": ("spend", {"type": "float"}, {}),
    "count": ("claims", {"type": "integer", "min": 0}, {"target_kind": "count"}),  # a regression of a count
}
DECISIONS = {
    "binary": {"temperature": 1.0, "threshold": 0.45, "objective": "f1"},
    "multiclass": {"temperature": 1.3},
    "regression": {"interval": {"level": 0.9, "half_width": 0.4}},
    "count": {"interval": {"level": 0.9, "half_width": 0.4}},
}
MAX_RECORDS = 100


def table(kind: str, rows: int = 300, seed: int = 0) -> pd.DataFrame:
    make = {"binary": tables.binary_table, "multiclass": tables.multiclass_table,
            "regression": tables.regression_table, "count": tables.count_table}[kind]
    return make(rows, seed)


def schema(kind: str) -> Schema:
    target, spec, extra = TARGETS[kind]
    return Schema(task="regression" if kind == "count" else kind, target=target, columns=FEATURES | {target: spec},
                  **extra)


def package(kind: str, seed: int = 0) -> bentoml.Model:
    """A model of KIND's table in the BentoML store, with every file Predictor.load and the explainer read; SEED
    draws its initial weights (two seeds: two models that answer differently, as a champion and a candidate)."""
    frame, declared = table(kind), schema(kind)
    task = Task.of(declared)
    transform = Transform.fit(frame, declared, load_params(REPO / "params.yaml").featurize)
    if task.kind == "regression":
        transform.target = TargetScale.fit(task.targets(frame), "poisson" if kind == "count" else "log")
    torch.manual_seed(seed)
    model = TabularNet(transform.width, transform.scores, members=2, blocks=1, width=16, dropout=0.0,
                       embedding={"d_embedding": 4, "n_frequencies": 4, "frequency_init_scale": 0.1, "lite": True},
                       outputs=task.outputs)
    with bentoml.models.create(f"tiny-{kind}") as stored:
        folder = Path(stored.path)
        model.save(folder)
        transform.save(folder / "transform.json")
        (folder / "decision.json").write_text(json.dumps(DECISIONS[kind]))
        (folder / "schema.json").write_text(declared.model_dump_json())
        (folder / "serving.json").write_text(json.dumps({"na_values": ["?", ""], "max_records": MAX_RECORDS}))
        (folder / "background.json").write_text(frame[declared.features].head(20).to_json(orient="records"))
    return bentoml.models.get(stored.tag)  # the stored copy: STORED's own path was a temporary folder
