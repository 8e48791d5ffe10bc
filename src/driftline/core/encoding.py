"""The feature transform, fitted on the training split and reused unchanged at serving time.

Categories become one-hot slots (plus one for unknown and one for missing values). Numbers become their
train quantile mapped to a standard normal score (as sklearn's QuantileTransformer(output_distribution=
"normal") computes it, without its subsampling), a missing flag and, when n_bins > 0, a piecewise-linear
encoding over train quantiles (Gorishniy et al. 2022). The fitted state is plain JSON, so the service
loads it without pickle.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import ndtri

from driftline.config import FeaturizeParams
from driftline.core.data import VECTORISED_ROWS, boolean_spelling, category_texts, coerce_column, columns_of
from driftline.schema import Schema

QUANTILES = 1000
BOUND = 1e-7  # ranks are clipped to [BOUND, 1 - BOUND] before the normal quantile function, as sklearn does


@dataclass
class NumericEncoding:
    median: float
    quantiles: list[float]  # train values at evenly spaced ranks from 0 to 1
    edges: list[float]  # piecewise-linear bin edges (empty: none); a value fills each bin in turn from 0 to 1

    @classmethod
    def fit(cls, values: np.ndarray, n_bins: int) -> NumericEncoding:
        """Median, quantiles and (N_BINS > 0) bin edges of the present VALUES."""
        present = values[~np.isnan(values)]
        if not len(present):  # missing throughout train: every row gets the same score and its missing flag
            present = np.zeros(1)
        edges = []
        if n_bins:
            edges = np.unique(np.quantile(present, np.linspace(0, 1, n_bins + 1))).tolist()
            if len(edges) == 1:
                edges = [edges[0], edges[0] + 1.0]
        return cls(median=float(np.median(present)),
                   quantiles=np.quantile(present, np.linspace(0, 1, min(QUANTILES, len(present)))).tolist(),
                   edges=edges)

    @property
    def width(self) -> int:
        return 2 + max(len(self.edges) - 1, 0)

    def normal_score(self, values: np.ndarray) -> np.ndarray:
        """Each value's train rank, through the standard normal quantile function.

        Interpolating upwards and downwards and averaging puts a value shared by many rows (a spike at
        0, say) at the middle of its ranks, as QuantileTransformer does; unlike it, a spike at the train
        minimum or maximum too (sklearn pins those rows to the extreme score, 5.2 standard deviations out).
        """
        q, ranks = self._ranks
        rank = 0.5 * (np.interp(values, q, ranks) - np.interp(-values, -q[::-1], -ranks[::-1]))
        return ndtri(np.clip(rank, BOUND, 1 - BOUND))

    @cached_property
    def _ranks(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.quantiles), np.linspace(0, 1, len(self.quantiles))

    @cached_property
    def _bins(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array(self.edges[:-1]), np.array(self.edges[1:])

    def encode(self, values: np.ndarray) -> np.ndarray:
        missing = np.isnan(values)
        filled = np.where(missing, self.median, values)
        lower, upper = self._bins
        bins = np.clip((filled[:, None] - lower) / (upper - lower), 0, 1).reshape(len(values), -1)
        return np.column_stack([self.normal_score(filled), missing, bins])


@dataclass
class CategoricalEncoding:
    vocabulary: list[str]

    @property
    def width(self) -> int:
        return len(self.vocabulary) + 2  # unknown, missing

    @cached_property
    def slot(self) -> dict[str, int]:
        return {v: i for i, v in enumerate(self.vocabulary)}

    @cached_property
    def _index(self) -> pd.Index:
        return pd.Index(self.vocabulary, dtype=object)

    @cached_property
    def _spelling(self) -> dict[bool, str]:
        return boolean_spelling(self.vocabulary)

    def slots(self, values: Sequence) -> np.ndarray:
        """Each value's slot: its position in the vocabulary, len(vocabulary) where it is unknown, one more where
        it is missing. Values (text, or None/NaN for missing) that are not text (1, True) are looked up by
        their canonical text (data.category_texts), as they are declared. A few values (the service's
        records) take a dict lookup each, which costs microseconds; large batches one vectorised lookup in a
        pandas Index."""
        unknown, missing = len(self.vocabulary), len(self.vocabulary) + 1
        texts = category_texts(values, self._spelling)
        absent = pd.isna(texts)
        if len(texts) > VECTORISED_ROWS:
            found = self._index.get_indexer(texts)
            return np.where(absent, missing, np.where(found < 0, unknown, found))
        return np.array([missing if gone else self.slot.get(t, unknown) for t, gone in zip(texts, absent)],
                        dtype=np.int64)

    def encode(self, values: Sequence) -> np.ndarray:
        """Values to one-hot rows of their slots."""
        out = np.zeros((len(values), self.width), dtype=np.float32)
        out[np.arange(len(values)), self.slots(values)] = 1
        return out


LINKS = ("poisson", "identity", "log", "log1p")  # in order of preference where validation ties


@dataclass
class TargetScale:
    """A regression target's link: how the members' raw output z maps to the prediction, fitted on train.

    `identity`, `log` and `log1p` standardise the target (through its log, or log(1 + target), first) and the
    members learn it by squared error. `poisson` is a log link: z = log(prediction) - mean, where mean is the
    log of the training mean (so z = 0 predicts the mean), learned by the Poisson deviance. VALIDATION holds
    the validation RMSE of each link tried when the link was chosen (core.target_link).
    """

    link: str = "identity"
    mean: float = 0.0
    std: float = 1.0
    validation: dict[str, float] = field(default_factory=dict)

    @classmethod
    def fit(cls, y: np.ndarray, link: str = "identity") -> TargetScale:
        if link == "poisson":
            return cls(link, float(np.log(max(y.mean(), np.finfo(np.float64).tiny))), 1.0)
        z = _forward(link, y)
        return cls(link, float(z.mean()), float(z.std()) or 1.0)

    @classmethod
    def from_json(cls, raw: dict) -> TargetScale:
        """A saved scale; one saved before links (`log`: true or false) reads as `log` or `identity`."""
        raw = dict(raw)
        if "log" in raw:
            raw["link"] = "log" if raw.pop("log") else "identity"
        return cls(**raw)

    @property
    def poisson(self) -> bool:
        return self.link == "poisson"

    def learned(self, y: np.ndarray) -> np.ndarray:
        """What the members learn for targets Y: the standardised target, or (poisson) the target itself."""
        return np.asarray(y, dtype=np.float64) if self.poisson else (_forward(self.link, y) - self.mean) / self.std

    def linked(self, z: np.ndarray) -> np.ndarray:
        """The prediction through its link for raw outputs Z, unstandardised: the prediction itself (identity),
        its log (log, poisson) or log(1 + prediction) (log1p). Linear in Z: std * z + mean."""
        return np.asarray(z, dtype=np.float64) * self.std + self.mean

    def decode(self, z: np.ndarray) -> np.ndarray:
        """The prediction for raw outputs Z."""
        return _inverse(self.link, self.linked(z))

    def residual(self, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """|target - prediction| where the conformal interval is measured: in standardised units, or (poisson)
        on the log(1 + count) scale, where a zero count has a residual too."""
        if self.poisson:
            return np.abs(np.log1p(np.asarray(y, dtype=np.float64)) - np.log1p(self.decode(z)))
        return np.abs(self.learned(y) - np.asarray(z, dtype=np.float64))

    def bounds(self, z: np.ndarray, half: float) -> tuple[np.ndarray, np.ndarray]:
        """The interval of residual HALF around raw outputs Z, in the target's units (skewed under a log)."""
        z = np.asarray(z, dtype=np.float64)
        if self.poisson:
            centre = np.log1p(self.decode(z))
            return np.maximum(np.expm1(centre - half), 0.0), np.expm1(centre + half)
        return self.decode(z - half), self.decode(z + half)


def _forward(link: str, y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    return {"identity": lambda: y, "log": lambda: np.log(y), "log1p": lambda: np.log1p(y)}[link]()


def _inverse(link: str, z: np.ndarray) -> np.ndarray:
    return {"identity": lambda: z, "log": lambda: np.exp(z), "log1p": lambda: np.expm1(z),
            "poisson": lambda: np.exp(z)}[link]()


@dataclass
class Transform:
    """Raw columns in, a float32 matrix out; `slices` maps each raw column to its block of features. A
    regression target's link and scale (`target`) are chosen beside it (core.target_link), on the same split."""

    numeric: dict[str, NumericEncoding] = field(default_factory=dict)
    categorical: dict[str, CategoricalEncoding] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)
    target: TargetScale | None = None

    @classmethod
    def fit(cls, frame: pd.DataFrame, schema: Schema, params: FeaturizeParams) -> Transform:
        """The encodings of FRAME's features."""
        numeric, categorical = {}, {}
        for name, values in columns_of(frame, schema.features).items():
            if schema.columns[name].numeric:
                numeric[name] = NumericEncoding.fit(values.astype(np.float64), params.n_bins)
            else:
                # Declared types win: a 0/1 column that pandas typed as numbers is still a category here.
                counts = pd.Series(coerce_column(name, values, schema.columns[name])).value_counts()
                categorical[name] = CategoricalEncoding(sorted(counts[counts >= params.min_category_count].index))
        return cls(numeric, categorical, list(schema.features))

    @cached_property  # the encodings are fixed once fitted or loaded; encode reads this per call
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

    @property
    def scores(self) -> list[int]:
        """Positions of the numeric columns' normal scores: the inputs a model may embed."""
        return [self.slices[name][0] for name in self.columns if name in self.numeric]

    @property
    def categories(self) -> list[list[int]]:
        """[start, end) of each categorical column's one-hot block: the inputs a model may embed as categories."""
        return [list(self.slices[name]) for name in self.columns if name in self.categorical]

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        return self.encode(columns_of(frame, self.columns))

    def encode(self, columns: Mapping[str, Sequence]) -> np.ndarray:
        """Typed columns (name: values, as data.coerce_column gives them) to the model's float32 matrix.

        Frames and the service's JSON records both come here, so they encode identically.
        """
        rows = len(columns[self.columns[0]]) if self.columns else 0
        out = np.empty((rows, self.width), dtype=np.float32)  # filled in place: no float64 copy of the whole
        for name, (start, end) in self.slices.items():
            if name in self.numeric:
                out[:, start:end] = self.numeric[name].encode(np.asarray(columns[name], dtype=np.float64))
            else:
                out[:, start:end] = self.categorical[name].encode(columns[name])
        return out

    def save(self, path: Path) -> None:
        state = asdict(self)
        if self.target is None:  # classification: transform.json as before targets had a scale
            del state["target"]
        path.write_text(json.dumps(state, indent=1))

    @classmethod
    def load(cls, path: Path) -> Transform:
        raw = json.loads(Path(path).read_text())
        return cls(
            numeric={k: NumericEncoding(**v) for k, v in raw["numeric"].items()},
            categorical={k: CategoricalEncoding(**v) for k, v in raw["categorical"].items()},
            columns=raw["columns"],
            target=TargetScale.from_json(raw["target"]) if raw.get("target") else None,
        )
