"""The three tasks (binary, multiclass, regression): what every stage asks instead of assuming two classes.

A task says how the target's cells become training targets, how the split is stratified, how wide the
network's head is, what early stopping follows, and what the model answers (`decode`). The network's raw
outputs are logits for the two classification tasks and, for regression, the target through its link
(core.encoding.TargetScale: standardised, or a log link); `decode` turns them into the answers the service,
batch scoring, evaluation and monitoring share, with the post-hoc choices fitted on validation (the
decision: threshold, temperature, prediction interval).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy.special import expit, softmax

from driftline.core.data import coerce_column, columns_of
from driftline.errors import DataError
from driftline.schema import Schema

QUANTILE_BINS = 10  # a regression split is stratified by the target's deciles


class Task(ABC):
    """What one kind of target needs: see the module's docstring."""

    kind: ClassVar[str]
    stop_metric: ClassVar[str]  # the validation metric early stopping and checkpoints follow, logged as val_<name>
    stop_mode: ClassVar[str]  # "max" or "min"

    def __init__(self, schema: Schema):
        self.schema = schema

    @staticmethod
    def of(schema: Schema) -> Task:
        return {"binary": BinaryTask, "multiclass": MulticlassTask, "regression": RegressionTask}[schema.task](schema)

    @property
    def classes(self) -> list[str]:
        return self.schema.classes

    @property
    @abstractmethod
    def outputs(self) -> int:
        """Width of the network's head."""

    @property
    @abstractmethod
    def output_columns(self) -> list[str]:
        """The columns a scored frame gains (Predictor.score), in order."""

    def target_values(self, frame: pd.DataFrame, na_values: Sequence[str] = ()) -> np.ndarray:
        """The target column, typed as declared (text for categories, floats for numbers), NaN where missing."""
        name = self.schema.target
        return coerce_column(name, columns_of(frame, [name])[name], self.schema.columns[name], na_values)

    @abstractmethod
    def targets(self, frame: pd.DataFrame) -> np.ndarray:
        """What the model learns and is scored against, per row; a missing or unknown target is an error."""

    def late_targets(self, frame: pd.DataFrame, na_values: Sequence[str] = ()) -> np.ndarray:
        """Late labels as `targets` gives them, as floats: NaN where none has arrived (no target column, a
        missing cell) or where it is not one of the target's categories."""
        if self.schema.target not in frame:
            return np.full(len(frame), np.nan)
        return self._late(self.target_values(frame, na_values))

    @abstractmethod
    def _late(self, values: np.ndarray) -> np.ndarray:
        """late_targets of the target's typed VALUES."""

    @abstractmethod
    def require(self, y: np.ndarray, split: str) -> None:
        """Raise DataError unless targets Y of SPLIT can be scored (both labels, two distinct values, ...)."""

    @abstractmethod
    def strata(self, y: np.ndarray) -> np.ndarray:
        """Groups a split keeps the balance of."""

    @abstractmethod
    def decode(self, raw: np.ndarray, decision: dict, scale=None) -> dict[str, np.ndarray]:
        """The answers for raw network outputs (rows, outputs), by the DECISION fitted on validation."""

    def frame(self, answers: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """decode's answers as a scored frame's columns (output_columns)."""
        return answers

    def answers(self, outputs: pd.DataFrame) -> dict[str, np.ndarray]:
        """A scored frame's columns (output_columns, as Predictor.predict and the inference log name them) back
        as decode's answers, numbers as floats (a log's columns may hold None): `frame` undone."""
        return {name: outputs[name].to_numpy(object if name == "label" else np.float64)
                for name in self.output_columns}


class _Classification(Task):
    def targets(self, frame: pd.DataFrame) -> np.ndarray:
        """Each row's class code: its target's position in the declared categories (binary: 1 for the positive
        label)."""
        values = self.target_values(frame)
        codes = self._codes(values)
        unknown = codes < 0
        if unknown.any():
            raise DataError(f"target '{self.schema.target}' has {int(unknown.sum())} value(s) that are not among its "
                            f"categories {self.classes}, such as {values[unknown][0]!r}")
        return self._encoded(codes).astype(np.int64)

    def _late(self, values: np.ndarray) -> np.ndarray:
        codes = self._codes(values)
        return np.where(codes < 0, np.nan, self._encoded(codes))

    def _codes(self, values: np.ndarray) -> np.ndarray:
        """Each value's position in the declared categories; -1 where it is missing or not one of them."""
        return pd.Categorical(values, categories=self.classes).codes

    def _encoded(self, codes: np.ndarray) -> np.ndarray:
        return codes

    def strata(self, y: np.ndarray) -> np.ndarray:
        return y

    @staticmethod
    def temperature(decision: dict) -> float:
        return decision.get("temperature", 1.0)


class BinaryTask(_Classification):
    kind = "binary"
    stop_metric, stop_mode = "auc", "max"

    @property
    def outputs(self) -> int:
        return 1

    @property
    def output_columns(self) -> list[str]:
        return ["probability", "label"]

    def _encoded(self, codes: np.ndarray) -> np.ndarray:
        """1 for the positive label, 0 for the negative one."""
        return codes == self.classes.index(self.schema.positive_label)

    def require(self, y: np.ndarray, split: str) -> None:
        """AUC, early stopping and the decision threshold all rank one label against the other."""
        counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=2)
        if counts.min() == 0:
            only = self.schema.positive_label if counts[1] else self.schema.negative_label
            raise DataError(
                f"the {split} split holds only '{self.schema.target}' = '{only}' ({len(y)} rows); it needs rows of "
                f"both labels: add data (or, for validation and test, raise featurize.val_size or test_size)"
            )

    def decode(self, raw: np.ndarray, decision: dict, scale=None) -> dict[str, np.ndarray]:
        probability = expit(raw[:, 0] / self.temperature(decision))
        label = np.where(probability >= decision["threshold"], self.schema.positive_label, self.schema.negative_label)
        return {"probability": probability, "label": label}


class MulticlassTask(_Classification):
    kind = "multiclass"
    stop_metric, stop_mode = "log_loss", "min"

    @property
    def outputs(self) -> int:
        return len(self.classes)

    @property
    def output_columns(self) -> list[str]:
        return ["label", "probability", *self.probability_columns]

    @property
    def probability_columns(self) -> list[str]:
        """One column per class in a scored frame: `probability_<class>`."""
        return [f"probability_{c}" for c in self.classes]

    def require(self, y: np.ndarray, split: str) -> None:
        """Log loss and one-vs-rest AUC need at least two classes present."""
        present = np.unique(y)
        if len(present) < 2:
            raise DataError(f"the {split} split holds only '{self.schema.target}' = '{self.classes[present[0]]}' "
                            f"({len(y)} rows); it needs rows of two classes at least: add data")

    def decode(self, raw: np.ndarray, decision: dict, scale=None) -> dict[str, np.ndarray]:
        """Class probabilities (softmax of the logits over the temperature), the argmax label and its probability."""
        probabilities = softmax(raw / self.temperature(decision), axis=1)
        top = probabilities.argmax(axis=1)
        return {"label": np.asarray(self.classes, dtype=object)[top],
                "probability": probabilities[np.arange(len(top)), top], "probabilities": probabilities}

    def frame(self, answers: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        columns = {"label": answers["label"], "probability": answers["probability"]}
        return columns | dict(zip(self.probability_columns, answers["probabilities"].T))

    def answers(self, outputs: pd.DataFrame) -> dict[str, np.ndarray]:
        return {"label": outputs["label"].to_numpy(object), "probability": outputs["probability"].to_numpy(np.float64),
                "probabilities": outputs[self.probability_columns].to_numpy(np.float64)}


class RegressionTask(Task):
    kind = "regression"
    stop_metric, stop_mode = "rmse", "min"

    @property
    def outputs(self) -> int:
        return 1

    @property
    def output_columns(self) -> list[str]:
        return ["prediction", "lower", "upper"]

    def targets(self, frame: pd.DataFrame) -> np.ndarray:
        values = self.target_values(frame)
        missing = np.isnan(values)
        if missing.any():
            raise DataError(f"target '{self.schema.target}' is missing in {int(missing.sum())} row(s); every "
                            "training row needs a value")
        return values

    def _late(self, values: np.ndarray) -> np.ndarray:
        return values

    def require(self, y: np.ndarray, split: str) -> None:
        if len(np.unique(y)) < 2:
            raise DataError(f"the {split} split's target '{self.schema.target}' takes one value only ({len(y)} "
                            "rows): add data")

    def strata(self, y: np.ndarray) -> np.ndarray:
        """Quantile bins of the target (fewer where rows are few, so that each holds two rows at least)."""
        bins = max(1, min(QUANTILE_BINS, len(y) // 10))
        edges = np.unique(np.quantile(y, np.linspace(0, 1, bins + 1)[1:-1]))
        return np.searchsorted(edges, y, side="right")

    def decode(self, raw: np.ndarray, decision: dict, scale=None) -> dict[str, np.ndarray]:
        """The prediction in the target's units, and the conformal interval (decision["interval"]: its
        half-width where TargetScale.residual measures) mapped back the same way, so a log-linked target gets a
        skewed one."""
        z = raw[:, 0].astype(np.float64)
        lower, upper = scale.bounds(z, decision.get("interval", {}).get("half_width", np.nan))
        return {"prediction": scale.decode(z), "lower": lower, "upper": upper}
