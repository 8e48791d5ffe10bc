"""A table whose categories look like numbers, flags and zip codes (SCHEMA declares them categories): the declared-types
tests and the tests of the paths that sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from driftline.core.data import coerce
from driftline.core.encoding import Transform
from driftline.core.splits import split
from driftline.core.task import Task
from driftline.schema import Schema

SCHEMA = Schema.model_validate({
    "target": "churned",
    "task": "binary", "positive_label": "1",
    "columns": {
        "plan": {"type": "category", "categories": ["1", "2", "3"]},  # numeric codes; first column a category
        "zip": {"type": "category", "categories": ["02139", "10001", "94105"]},
        "member": {"type": "category", "categories": ["True", "False"]},
        "spend": {"type": "float", "min": 0, "max_missing": 0.5},
        "visits": {"type": "integer", "min": 0},
        "churned": {"type": "category", "categories": ["0", "1"]},
    },
})


def pandas_typed(n: int = 40) -> pd.DataFrame:
    """Rows as plain pandas types them: codes and labels as ints, flags as bools (no zip: it loses its zero)."""
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "plan": rng.integers(1, 4, n), "zip": rng.choice(["02139", "10001"], n), "member": rng.random(n) < 0.5,
        "spend": rng.random(n) * 100, "visits": rng.integers(0, 9, n), "churned": np.arange(n) % 2,
    })


def write_splits(directory: Path, params, n: int = 200, one_label_val: bool = False) -> Path:
    """train/val/test parquet files and transform.json of N pandas-typed rows whose label follows `spend`."""
    frame = pandas_typed(n)
    frame["churned"] = (frame["spend"] + np.random.default_rng(1).normal(0, 15, n) > 50).astype(int)
    typed = coerce(frame, SCHEMA)
    parts = split(typed, pd.Series(Task.of(SCHEMA).targets(typed)), 0.15, 0.15, 0)
    if one_label_val:
        parts["val"] = parts["val"].assign(churned="0")
    directory.mkdir(parents=True, exist_ok=True)
    for name, part in parts.items():
        part.reset_index(drop=True).to_parquet(directory / f"{name}.parquet", index=False)
    Transform.fit(parts["train"], SCHEMA, params.featurize).save(directory / "transform.json")
    return directory


def small_params(params):
    """params on SCHEMA with a tiny CPU budget and low frequencies (a few hundred rows cannot fit the full-data
    scale, as tests/helpers/project.py's SMALL says)."""
    embedding = params.train.embedding.model_copy(update={"d_embedding": 16, "n_frequencies": 16,
                                                          "frequency_init_scale": 1.0})
    settings = {"members": 2, "blocks": 1, "width": 32, "max_epochs": 8, "patience": 8, "accelerator": "cpu",
                "precision": "32-true", "learning_rate": 0.01, "embedding": embedding}
    return params.model_copy(update={"schema_": SCHEMA, "train": params.train.model_copy(update=settings)})
