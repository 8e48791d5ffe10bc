"""featurize stage: a seeded split, stratified by class (or by target quantile for a regression), a transform
fitted on the training split only, and a regression target's link chosen on validation (core.target_link)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from driftline.config import Params
from driftline.core import target_link
from driftline.core.artifacts import write_json
from driftline.core.data import coerce, read_dataset
from driftline.core.encoding import Transform
from driftline.core.splits import split
from driftline.core.task import Task


def run(params: Params, out_dir: Path, metrics_path: Path, root: Path = Path(".")) -> dict:
    """Write train/val/test parquet files (typed raw columns) and transform.json into out_dir."""
    frame = coerce(read_dataset(params.data, params.schema, root), params.schema)
    cfg = params.featurize
    task = Task.of(params.schema)
    y = task.targets(frame)
    parts = split(frame, pd.Series(task.strata(y), index=frame.index), cfg.val_size, cfg.test_size, cfg.seed,
                  cfg.max_holdout_rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, part in parts.items():
        part.reset_index(drop=True).to_parquet(out_dir / f"{name}.parquet", index=False)
    transform = Transform.fit(parts["train"], params.schema, cfg)
    if task.kind == "regression":
        train, val = parts["train"], parts["val"]
        transform.target = target_link.choose(transform, train, task.targets(train), val, task.targets(val),
                                              cfg.target_link, params.schema.target_kind == "count", cfg.seed,
                                              params.schema.target)
    transform.save(out_dir / "transform.json")
    metrics = {f"{name}_rows": len(part) for name, part in parts.items()} | {"features": transform.width}
    if transform.target is not None:
        metrics |= {f"val_rmse_{name}": round(value, 6) for name, value in transform.target.validation.items()}
    write_json(metrics_path, metrics)
    return metrics
