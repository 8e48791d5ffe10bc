"""audit stage: SHAP attributions of the model's raw outputs summed back to raw columns (core.explain), and
fairness per sensitive group with each task's metrics (core.fairness)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import shap  # noqa: E402

from driftline.config import Params  # noqa: E402
from driftline.core.artifacts import write_json  # noqa: E402
from driftline.core.blend import Blend  # noqa: E402
from driftline.core.data import sensitive_groups  # noqa: E402
from driftline.core.encoding import Transform  # noqa: E402
from driftline.core.explain import (  # noqa: E402
    ADDITIVITY_TOLERANCE,
    EXPLAINED,
    additivity_error,
    column_attributions,
    explained_output,
    importance,
)
from driftline.core.fairness import group_fairness  # noqa: E402
from driftline.core.predictor import weights  # noqa: E402
from driftline.core.splits import load_split  # noqa: E402
from driftline.core.task import Task  # noqa: E402
from driftline.errors import AuditError  # noqa: E402
from driftline.schema import Schema  # noqa: E402


def fairness(frame: pd.DataFrame, task: Task, answers: dict[str, np.ndarray], decision: dict,
             min_group_size: int) -> tuple[dict, dict]:
    """group_fairness for every sensitive attribute of the scored FRAME (ANSWERS: core.task's decode): the
    tables by attribute, and flat `<attr>_<gap>` metrics."""
    y, tables, metrics = task.targets(frame), {}, {}
    if task.kind == "multiclass":
        answered = answers["probabilities"].argmax(axis=1)  # the decided class's code
    else:
        answered = answers["prediction" if task.kind == "regression" else "probability"]
    for name, spec in task.schema.sensitive.items():
        groups = sensitive_groups(frame[name], spec.bins).reset_index(drop=True)
        tables[name], gaps = group_fairness(task, y, answered, groups, min_group_size, decision.get("threshold"))
        metrics |= {f"{name}_{k}": round(v, 6) for k, v in gaps.items()}
    return tables, metrics


def plot_colours(rows: pd.DataFrame, schema: Schema) -> np.ndarray:
    """(rows, features) values that colour the beeswarm: numbers as they are, categories grey.

    A category's text has no order to colour by, so its column is NaN, which shap draws grey. The matrix is
    float and column i is feature i whatever the order of numbers and categories, even with no number at all.
    """
    return np.column_stack([
        pd.to_numeric(rows[name], errors="coerce").to_numpy(np.float64) if schema.columns[name].numeric
        else np.full(len(rows), np.nan)
        for name in schema.features
    ])


def _plots(values: np.ndarray, explained: np.ndarray, rows: pd.DataFrame, schema: Schema, out_dir: Path) -> None:
    """The importance bar chart of VALUES, (rows, features, outputs) attributions: mean |SHAP| over the rows and
    outputs; and the beeswarm of EXPLAINED, (rows, features): each row's attributions of its explained output."""
    names, colours = list(schema.features), plot_colours(rows, schema)
    outputs = values.shape[2]
    # every (row, output) pair is a row of the bar chart's input, so that its mean |SHAP| is the importance
    each = values.transpose(0, 2, 1).reshape(-1, len(names))
    charts = (("importance", shap.plots.bar, shap.Explanation(values=each, data=np.repeat(colours, outputs, axis=0),
                                                              feature_names=names)),
              ("beeswarm", shap.plots.beeswarm, shap.Explanation(values=explained, data=colours, feature_names=names)))
    for kind, draw, explanation in charts:
        np.random.seed(0)  # the beeswarm shuffles its points with numpy's global generator: same plot, same hash
        with warnings.catch_warnings():
            # shap takes percentiles of each column to scale its colours: all-NaN for a category
            warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
            draw(explanation, max_display=len(names), show=False)
        plt.gcf().savefig(out_dir / f"shap_{kind}.png", dpi=110, bbox_inches="tight")
        plt.close("all")


def explain(task: Task, blend: Blend, background: pd.DataFrame, rows: pd.DataFrame, out_dir: Path) -> None:
    """SHAP attributions of ROWS' raw outputs of the blend: the summary (base values, additivity), the importance
    and the plots. Raises AuditError where the attributions of an output do not add up to it."""
    values, base = column_attributions(blend, background, rows)
    raw = blend.raw_frame(rows)
    error = additivity_error(values, base, raw)
    if error > ADDITIVITY_TOLERANCE:
        raise AuditError(f"SHAP attributions do not add up to the {EXPLAINED[task.kind]}: off by {error:.2g}")
    write_json(out_dir / "shap_summary.json", {
        "explained": EXPLAINED[task.kind],
        "base_value": dict(zip(task.classes, base.tolist())) if task.kind == "multiclass" else float(base[0]),
        "additivity_error": error, "tolerance": ADDITIVITY_TOLERANCE, "rows": len(rows)})
    ranked = dict(zip(task.schema.features, importance(values).round(6).tolist()))
    write_json(out_dir / "shap_importance.json", dict(sorted(ranked.items(), key=lambda kv: -kv[1])))
    chosen = explained_output(raw)
    _plots(values, values[np.arange(len(rows)), :, chosen], rows, task.schema, out_dir)


def run(params: Params, splits_dir: Path, model_dir: Path, trees_dir: Path, decision_path: Path, out_dir: Path,
        metrics_path: Path) -> dict:
    """Write SHAP plots and importances, per-group fairness tables, and the gaps between groups as metrics."""
    task, cfg = Task.of(params.schema), params.audit
    decision = json.loads(decision_path.read_text())
    transform = Transform.load(splits_dir / "transform.json")
    blend = Blend.load(transform, weights(decision), model_dir, trees_dir)
    train, test = load_split(splits_dir, "train"), load_split(splits_dir, "test")
    background = train.sample(min(cfg.background_rows, len(train)), random_state=cfg.seed)
    explain(task, blend, background, test.sample(min(cfg.explain_rows, len(test)), random_state=cfg.seed), out_dir)

    answers = task.decode(blend.raw_frame(test), decision, transform.target)
    tables, metrics = fairness(test, task, answers, decision, cfg.min_group_size)
    write_json(out_dir / "fairness.json", tables)
    write_json(metrics_path, metrics)
    return metrics
