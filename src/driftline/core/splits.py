"""The train/validation/test splits: how the featurize stage draws them and how every stage reads them."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from driftline.config import TrainParams

SPLITS = ("train", "val", "test")


def split(frame: pd.DataFrame, y: pd.Series, val_size: float, test_size: float, seed: int,
          max_holdout_rows: int | None = None) -> dict[str, pd.DataFrame]:
    """Train, validation and test frames, each with the balance of the strata Y (labels, or target bins) of the whole.

    Validation and test take their shares of the rows (as sklearn rounds them), but at most
    MAX_HOLDOUT_ROWS each; training takes the rest.
    """
    def rows(share: float, of: int) -> int:
        return min(math.ceil(share * of), max_holdout_rows or of)

    rest, test = train_test_split(frame, test_size=rows(test_size, len(frame)), stratify=y, random_state=seed)
    train, val = train_test_split(rest, test_size=rows(val_size / (1 - test_size), len(rest)),
                                  stratify=y[rest.index], random_state=seed)
    return {"train": train, "val": val, "test": test}


def load_split(directory: Path, name: str) -> pd.DataFrame:
    """One split written by run()."""
    return pd.read_parquet(Path(directory) / f"{name}.parquet")


def cv_folds(strata: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Each row's fold (0 .. folds - 1), stratified by STRATA (classes, or target bins), seeded."""
    fold = np.zeros(len(strata), dtype=np.int64)
    with warnings.catch_warnings():  # a class rarer than the folds: some folds go without it, as sklearn warns
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
        for number, (_, held_out) in enumerate(splitter.split(np.zeros(len(strata)), strata)):
            fold[held_out] = number
    return fold


def fold_count(rows: int, params: TrainParams) -> int:
    """How many cross-validation folds both members train on: train.cv_folds below train.cv_below_rows training
    rows, otherwise 1 (early stopping scores the validation split)."""
    return params.cv_folds if params.cv_below_rows is not None and rows < params.cv_below_rows else 1
