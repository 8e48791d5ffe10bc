"""Scoring raw rows with a packaged model: one code path for evaluation, batch scoring and the service."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from driftline.config import Schema
from driftline.data import coerce
from driftline.encoding import Transform
from driftline.model import TabularMLP

BATCH_ROWS = 65536


@torch.inference_mode()
def probabilities(model: TabularMLP, transform: Transform, frame: pd.DataFrame) -> np.ndarray:
    """Positive-class probability for each row of a typed frame."""
    out = []
    for start in range(0, len(frame), BATCH_ROWS):
        x = torch.from_numpy(transform(frame.iloc[start : start + BATCH_ROWS]))
        out.append(torch.sigmoid(model(x)).squeeze(1).double().numpy())
    return np.concatenate(out) if out else np.zeros(0)


@dataclass
class Predictor:
    """A model, its transform, the schema it was trained on and its decision threshold."""

    model: TabularMLP
    transform: Transform
    schema: Schema
    threshold: float

    FILES = ("model.safetensors", "model.json", "transform.json", "schema.json", "decision.json")

    @classmethod
    def load(cls, directory: str | Path) -> Predictor:
        directory = Path(directory)
        decision = json.loads((directory / "decision.json").read_text())
        return cls(
            model=TabularMLP.load(directory),
            transform=Transform.load(directory / "transform.json"),
            schema=Schema.model_validate_json((directory / "schema.json").read_text()),
            threshold=decision["threshold"],
        )

    @property
    def negative_label(self) -> str:
        return next(c for c in self.schema.columns[self.schema.target].categories if c != self.schema.positive_label)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`probability` of the positive label and the decided `label` for each row of a raw frame."""
        typed = coerce(frame, self.schema, self.schema.features)
        probability = probabilities(self.model, self.transform, typed)
        label = np.where(probability >= self.threshold, self.schema.positive_label, self.negative_label)
        return pd.DataFrame({"probability": probability, "label": label}, index=frame.index)
