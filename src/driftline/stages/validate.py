"""validate stage: the data contract over all of data/, with Data Docs and per-group label rates."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from driftline.config import Params
from driftline.core.artifacts import write_json
from driftline.core.contract import check, failures
from driftline.core.data import coerce, read_dataset, sensitive_groups
from driftline.core.task import Task
from driftline.errors import ContractError
from driftline.schema import Schema


def group_summary(frame: pd.DataFrame, schema: Schema) -> dict:
    """Per sensitive attribute: count and share of each group, and its target's make-up: the positive-label rate
    (binary), each class's rate (multiclass, `rate_<class>`) or the target's mean (regression)."""
    typed = coerce(frame, schema)
    task = Task.of(schema)
    y = task.targets(typed)
    if task.kind == "multiclass":
        target = pd.DataFrame({f"rate_{c}": y == code for code, c in enumerate(task.classes)}, index=typed.index)
    else:
        target = pd.DataFrame({"positive_rate" if task.kind == "binary" else "target_mean": y}, index=typed.index)
    summary = {}
    for name, spec in schema.sensitive.items():
        groups = sensitive_groups(typed[name], spec.bins)
        counts, means = groups.value_counts(), target.groupby(groups, observed=True).mean()
        summary[name] = {
            str(group): {"count": int(counts[group]), "share": counts[group] / len(typed)}
                        | {k: float(v) for k, v in row.items()}
            for group, row in means.iterrows()
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

