"""validate stage: the data contract over all of data/, with Data Docs and per-group label rates."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from driftline.config import Params, Schema
from driftline.core.artifacts import write_json
from driftline.core.contract import check, failures
from driftline.core.data import coerce, labels, read_dataset, sensitive_groups
from driftline.errors import ContractError


def group_summary(frame: pd.DataFrame, schema: Schema) -> dict:
    """Per sensitive attribute: count, share and positive-label rate of each group."""
    typed = coerce(frame, schema)
    positive = pd.Series(labels(typed, schema), index=typed.index)
    summary = {}
    for name, spec in schema.sensitive.items():
        groups = sensitive_groups(typed[name], spec.bins)
        table = positive.groupby(groups, observed=True).agg(["count", "mean"])
        summary[name] = {
            str(group): {"count": int(row["count"]), "share": row["count"] / len(typed), "positive_rate": row["mean"]}
            for group, row in table.iterrows()
        }
    return summary


def run(params: Params, result_path: Path, bias_path: Path, docs_dir: Path, metrics_path: Path,
        root: Path = Path(".")) -> dict:
    """Validate all training data; write the result, Data Docs, bias summary and metrics; raise if it fails."""
    frame = read_dataset(params.data, params.schema, root)
    result = check(frame, params.schema, params.validation, docs_dir)
    result_path.parent.mkdir(parents=True, exist_ok=True)
    result_path.write_text(json.dumps(result, indent=1, default=str))
    problems = failures(result)
    if problems:
        raise ContractError(problems)
    write_json(bias_path, group_summary(frame, params.schema))
    metrics = {"rows": len(frame), "expectations": len(result["results"])}
    write_json(metrics_path, metrics)
    return metrics

