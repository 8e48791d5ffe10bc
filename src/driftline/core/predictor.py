"""Scoring raw rows with a packaged model: one code path for evaluation, batch scoring and the service."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from driftline.core.blend import Blend, decision_blend
from driftline.core.data import coerce_column, columns_of
from driftline.core.encoding import Transform
from driftline.core.task import Task
from driftline.errors import DataError
from driftline.schema import Schema


def weights(decision: dict) -> dict[str, float]:
    """The members' weights of a decision (decision_blend)."""
    return decision_blend(decision)["weights"]


def stored_schema(path: str | Path) -> Schema:
    """A packaged model's schema.json; models packaged before schemas declared a task were all binary."""
    raw = json.loads(Path(path).read_text())
    raw.setdefault("task", "binary")
    return Schema.model_validate(raw)


@dataclass
class Predictor:
    """A model (core.blend: its members and their weights), its transform, the schema it was trained on, its
    decision and its serving rules.

    The decision (evaluate's decision.json) holds what was fitted on validation after training: the
    members' weights (`blend`), the threshold (binary), the temperature (classification), the prediction
    interval (regression).
    `na_values` is the missing-value rule of the training data (cells such as "?" mean missing), applied
    on every scoring path; `max_records` bounds one service request.
    """

    blend: Blend
    transform: Transform
    schema: Schema
    decision: dict
    na_values: list[str]
    max_records: int

    @classmethod
    def load(cls, directory: str | Path) -> Predictor:
        directory = Path(directory)
        serving = json.loads((directory / "serving.json").read_text())
        transform = Transform.load(directory / "transform.json")
        decision = json.loads((directory / "decision.json").read_text())
        return cls(
            blend=Blend.load(transform, weights(decision), directory),
            transform=transform,
            schema=stored_schema(directory / "schema.json"),
            decision=decision,
            na_values=serving["na_values"],
            max_records=serving["max_records"],
        )

    @cached_property
    def task(self) -> Task:
        return Task.of(self.schema)

    @property
    def threshold(self) -> float:
        """The binary decision threshold."""
        return self.decision["threshold"]

    def typed(self, columns: Mapping[str, Sequence]) -> dict[str, np.ndarray]:
        """Raw columns (name: values) of the features, each as its declared type, by the data's reading rules."""
        return {name: coerce_column(name, columns[name], self.schema.columns[name], self.na_values)
                for name in self.schema.features}

    def encode(self, columns: Mapping[str, Sequence]) -> np.ndarray:
        """Raw columns (name: values) as the network's input matrix."""
        return self.transform.encode(self.typed(columns))

    def predict_columns(self, columns: Mapping[str, Sequence]) -> dict[str, np.ndarray]:
        """The task's answers (core.task: decode) for raw columns (name: values), without a DataFrame: the
        service's JSON records and batch scoring's frames take this one path."""
        return self.task.decode(self.blend.raw(self.typed(columns)), self.decision, self.transform.target)

    def typed_frame(self, columns: Mapping[str, Sequence]) -> pd.DataFrame:
        """Raw columns (name: values) as a typed frame of the features, by the same rules as predict_columns."""
        return pd.DataFrame(self.typed(columns))

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The task's output columns for each row of a raw frame: `probability` and `label` (binary); `label`, its
        `probability` and one `probability_<class>` per class (multiclass); `prediction`, `lower` and `upper`
        (regression)."""
        answers = self.predict_columns(columns_of(frame, self.schema.features))
        return pd.DataFrame(self.task.frame(answers), index=frame.index)

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The input rows with the task's output columns appended; refuses to overwrite input columns."""
        clash = [c for c in self.task.output_columns if c in frame.columns]
        if clash:
            raise DataError(f"the input already has column(s) {clash}; rename them so the scores do not replace them")
        return frame.join(self.predict(frame))
