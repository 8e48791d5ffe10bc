"""Scoring raw rows with a packaged model: one code path for evaluation, batch scoring and the service."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from driftline.config import Schema
from driftline.core.data import coerce_column, columns_of
from driftline.core.encoding import Transform
from driftline.core.model import TabularNet
from driftline.errors import DataError

BATCH_ROWS = 8192  # the network's activations for this many rows take ~100 MB; 64k rows took 4 GB at peak
OUTPUTS = ("probability", "label")


def probabilities(model: TabularNet, transform: Transform, frame: pd.DataFrame) -> np.ndarray:
    """Positive-class probability for each row of a typed frame."""
    return scores(model, transform(frame))


@torch.inference_mode()
def scores(model: TabularNet, x: np.ndarray) -> np.ndarray:
    """Positive-class probability for each row of an encoded matrix, BATCH_ROWS at a time."""
    out = [torch.sigmoid(model(torch.from_numpy(x[start : start + BATCH_ROWS]))).squeeze(1).double().numpy()
           for start in range(0, len(x), BATCH_ROWS)]
    return np.concatenate(out) if out else np.zeros(0)


@dataclass
class Predictor:
    """A model, its transform, the schema it was trained on, its decision threshold and its serving rules.

    `na_values` is the missing-value rule of the training data (cells such as "?" mean missing), applied
    on every scoring path; `max_records` bounds one service request.
    """

    model: TabularNet
    transform: Transform
    schema: Schema
    threshold: float
    na_values: list[str]
    max_records: int

    @classmethod
    def load(cls, directory: str | Path) -> Predictor:
        directory = Path(directory)
        decision = json.loads((directory / "decision.json").read_text())
        serving = json.loads((directory / "serving.json").read_text())
        return cls(
            model=TabularNet.load(directory),
            transform=Transform.load(directory / "transform.json"),
            schema=Schema.model_validate_json((directory / "schema.json").read_text()),
            threshold=decision["threshold"],
            na_values=serving["na_values"],
            max_records=serving["max_records"],
        )

    def predict_columns(self, columns: Mapping[str, Sequence]) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and decided labels for raw columns (name: values), without a DataFrame: the
        service's JSON records and batch scoring's frames take this one path."""
        typed = {name: coerce_column(name, columns[name], self.schema.columns[name], self.na_values)
                 for name in self.schema.features}
        probability = scores(self.model, self.transform.encode(typed))
        label = np.where(probability >= self.threshold, self.schema.positive_label, self.schema.negative_label)
        return probability, label

    def typed_frame(self, columns: Mapping[str, Sequence]) -> pd.DataFrame:
        """Raw columns (name: values) as a typed frame of the features, by the same rules as predict_columns."""
        return pd.DataFrame({name: coerce_column(name, columns[name], self.schema.columns[name], self.na_values)
                             for name in self.schema.features})

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`probability` of the positive label and the decided `label` for each row of a raw frame."""
        probability, label = self.predict_columns(columns_of(frame, self.schema.features))
        return pd.DataFrame({"probability": probability, "label": label}, index=frame.index)

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The input rows with `probability` and `label` appended; refuses to overwrite input columns."""
        clash = [c for c in OUTPUTS if c in frame.columns]
        if clash:
            raise DataError(f"the input already has column(s) {clash}; rename them so the scores do not replace them")
        return frame.join(self.predict(frame))
