"""Tables for the tests of every task, with nothing downloaded: scikit-learn's bundled sets and generated ones.

The generated tables mix numbers, categories, missing cells and a sensitive attribute, with a target that
depends on both kinds of feature, so that a model must learn from the categories to beat a dummy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine


def diabetes() -> pd.DataFrame:
    """442 rows, a numeric target (disease progression, positive and skewed): regression."""
    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame["sex"] = frame["sex"].map({1.0: "a", 2.0: "b"})
    return frame


def wine() -> pd.DataFrame:
    """178 rows, three cultivars: multiclass."""
    frame = load_wine(as_frame=True).frame
    frame["target"] = frame["target"].map({0: "barolo", 1: "grignolino", 2: "barbera"})
    return frame.rename(columns={"od280/od315_of_diluted_wines": "od280_od315"})


def breast_cancer() -> pd.DataFrame:
    """569 rows, malignant or benign: a small binary table."""
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame["target"] = frame["target"].map({0: "malignant", 1: "benign"})
    return frame


def _features(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    region = rng.choice(["north", "south", "east", "west", "centre"], rows, p=[0.3, 0.25, 0.2, 0.15, 0.1])
    plan = rng.choice(["basic", "plus", "pro"], rows, p=[0.5, 0.3, 0.2])
    frame = pd.DataFrame({
        "age": rng.integers(18, 80, rows),
        "income": np.round(rng.lognormal(10, 0.5, rows), 2),
        "visits": rng.poisson(3, rows),
        "score": np.round(rng.normal(0, 1, rows), 4),
        "region": region,
        "plan": plan,
        "group": rng.choice(["g1", "g2"], rows, p=[0.6, 0.4]),
    })
    frame.loc[rng.random(rows) < 0.03, "score"] = np.nan
    frame.loc[rng.random(rows) < 0.02, "region"] = np.nan
    return frame


def _signal(frame: pd.DataFrame) -> np.ndarray:
    region = frame["region"].map({"north": 0.8, "south": -0.4, "east": 0.2, "west": -0.6, "centre": 0.0}).fillna(0)
    plan = frame["plan"].map({"basic": -0.5, "plus": 0.3, "pro": 1.0})
    return (0.03 * (frame["age"] - 50) + 0.8 * np.log(frame["income"] / 22_000) + 0.2 * frame["visits"]
            + np.sin(2 * frame["score"].fillna(0)) + region + plan).to_numpy()


def regression_table(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    """A positive, right-skewed numeric target (`spend`) from numbers and categories."""
    rng = np.random.default_rng(seed)
    frame = _features(rows, rng)
    frame["spend"] = np.round(np.exp(3 + 0.5 * _signal(frame) + rng.normal(0, 0.3, rows)), 2)
    return frame


def count_table(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    """A count target (`claims`: whole numbers from 0, many zeros, a long tail) drawn from a Poisson law whose
    log-mean follows the numbers and categories."""
    rng = np.random.default_rng(seed)
    frame = _features(rows, rng)
    frame["claims"] = rng.poisson(np.exp(-0.3 + 0.7 * _signal(frame)))
    return frame


def multiclass_table(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    """A four-class target (`segment`) from numbers and categories."""
    rng = np.random.default_rng(seed)
    frame = _features(rows, rng)
    signal = _signal(frame) + rng.normal(0, 0.5, rows)
    cuts = np.quantile(signal, [0.4, 0.7, 0.9])
    frame["segment"] = np.array(["bronze", "silver", "gold", "platinum"])[np.searchsorted(cuts, signal)]
    return frame


def binary_table(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    """A two-class target (`churned`: yes/no) from numbers and categories."""
    rng = np.random.default_rng(seed)
    frame = _features(rows, rng)
    signal = _signal(frame) + rng.logistic(0, 0.5, rows)
    frame["churned"] = np.where(signal > np.quantile(signal, 0.7), "yes", "no")
    return frame
