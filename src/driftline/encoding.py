"""The feature transform, fitted on the training split and reused unchanged at serving time.

Categories become one-hot slots (plus one for unknown and one for missing values); numbers become a
standardised value, a missing flag and a piecewise-linear encoding over train quantiles
(Gorishniy et al. 2022). The fitted state is plain JSON, so the service loads it without pickle.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from driftline.config import FeaturizeParams, Schema


@dataclass
class NumericEncoding:
    median: float
    mean: float
    std: float
    edges: list[float]  # bin edges; a value fills each bin in turn between 0 and 1

    @property
    def width(self) -> int:
        return 2 + len(self.edges) - 1

    def encode(self, values: np.ndarray) -> np.ndarray:
        missing = np.isnan(values)
        filled = np.where(missing, self.median, values)
        scaled = np.clip((filled - self.mean) / self.std, -5, 5)
        lower, upper = np.array(self.edges[:-1]), np.array(self.edges[1:])
        bins = np.clip((filled[:, None] - lower) / (upper - lower), 0, 1)
        return np.column_stack([scaled, missing, bins])


@dataclass
class CategoricalEncoding:
    vocabulary: list[str]

    @property
    def width(self) -> int:
        return len(self.vocabulary) + 2  # unknown, missing

    def encode(self, values: pd.Series) -> np.ndarray:
        index = {v: i for i, v in enumerate(self.vocabulary)}
        unknown, missing = len(self.vocabulary), len(self.vocabulary) + 1
        slots = np.array([missing if pd.isna(v) else index.get(v, unknown) for v in values], dtype=np.int64)
        out = np.zeros((len(values), self.width), dtype=np.float32)
        out[np.arange(len(values)), slots] = 1
        return out


@dataclass
class Transform:
    """Raw columns in, a float32 matrix out; `slices` maps each raw column to its block of features."""

    numeric: dict[str, NumericEncoding] = field(default_factory=dict)
    categorical: dict[str, CategoricalEncoding] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)

    @classmethod
    def fit(cls, frame: pd.DataFrame, schema: Schema, params: FeaturizeParams) -> Transform:
        numeric, categorical = {}, {}
        for name in schema.features:
            values = frame[name]
            if schema.columns[name].numeric:
                present = values.dropna().to_numpy(np.float64)
                quantiles = np.quantile(present, np.linspace(0, 1, params.n_bins + 1))
                edges = np.unique(quantiles).tolist()
                if len(edges) < 2:
                    edges = [edges[0], edges[0] + 1.0]
                numeric[name] = NumericEncoding(
                    median=float(np.median(present)),
                    mean=float(present.mean()),
                    std=float(present.std()) or 1.0,
                    edges=edges,
                )
            else:
                counts = values.value_counts()
                categorical[name] = CategoricalEncoding(
                    sorted(str(v) for v in counts[counts >= params.min_category_count].index)
                )
        return cls(numeric, categorical, list(schema.features))

    @property
    def slices(self) -> dict[str, tuple[int, int]]:
        out, start = {}, 0
        for name in self.columns:
            width = (self.numeric.get(name) or self.categorical[name]).width
            out[name] = (start, start + width)
            start += width
        return out

    @property
    def width(self) -> int:
        return sum(end - start for start, end in self.slices.values())

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        blocks = []
        for name in self.columns:
            if name in self.numeric:
                blocks.append(self.numeric[name].encode(frame[name].to_numpy(np.float64)))
            else:
                blocks.append(self.categorical[name].encode(frame[name]))
        return np.concatenate(blocks, axis=1).astype(np.float32)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> Transform:
        raw = json.loads(Path(path).read_text())
        return cls(
            numeric={k: NumericEncoding(**v) for k, v in raw["numeric"].items()},
            categorical={k: CategoricalEncoding(**v) for k, v in raw["categorical"].items()},
            columns=raw["columns"],
        )
