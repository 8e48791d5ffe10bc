"""featurize stage: a seeded, stratified split and a transform fitted on the training split only."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from driftline.artifacts import write_json
from driftline.config import Params
from driftline.data import coerce, labels, read_dataset
from driftline.encoding import Transform

SPLITS = ("train", "val", "test")


def split(frame: pd.DataFrame, y: pd.Series, val_size: float, test_size: float, seed: int,
          max_holdout_rows: int | None = None) -> dict[str, pd.DataFrame]:
    """Train, validation and test frames, each with the label balance of the whole.

    Validation and test take their shares of the rows (as sklearn rounds them), but at most
    MAX_HOLDOUT_ROWS each; training takes the rest.
    """
    def rows(share: float, of: int) -> int:
        return min(math.ceil(share * of), max_holdout_rows or of)

    rest, test = train_test_split(frame, test_size=rows(test_size, len(frame)), stratify=y, random_state=seed)
    train, val = train_test_split(rest, test_size=rows(val_size / (1 - test_size), len(rest)),
                                  stratify=y[rest.index], random_state=seed)
    return {"train": train, "val": val, "test": test}


def run(params: Params, out_dir: Path, metrics_path: Path, root: Path = Path(".")) -> dict:
    """Write train/val/test parquet files (typed raw columns) and transform.json into out_dir."""
    frame = coerce(read_dataset(params.data, params.schema, root), params.schema)
    cfg = params.featurize
    y = pd.Series(labels(frame, params.schema), index=frame.index)
    parts = split(frame, y, cfg.val_size, cfg.test_size, cfg.seed, cfg.max_holdout_rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, part in parts.items():
        part.reset_index(drop=True).to_parquet(out_dir / f"{name}.parquet", index=False)
    transform = Transform.fit(parts["train"], params.schema, cfg)
    transform.save(out_dir / "transform.json")
    metrics = {f"{name}_rows": len(part) for name, part in parts.items()} | {"features": transform.width}
    write_json(metrics_path, metrics)
    return metrics


def load_split(directory: Path, name: str) -> pd.DataFrame:
    """One split written by run()."""
    return pd.read_parquet(Path(directory) / f"{name}.parquet")
