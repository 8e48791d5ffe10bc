"""Monitoring: Evidently data drift of a batch (features and predictions) against the training split."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

from driftline.artifacts import splits_dir, write_json
from driftline.config import MonitorParams, Params, Schema
from driftline.data import coerce, read_csv
from driftline.errors import MonitorError
from driftline.featurize import load_split
from driftline.predictor import Predictor
from driftline.reporting.index import build_index

PREDICTION = "prediction"


def drift_report(reference: pd.DataFrame, current: pd.DataFrame, schema: Schema, params: MonitorParams):
    """Run Evidently's DataDriftPreset over the features and the predicted probability."""
    definition = DataDefinition(
        numerical_columns=schema.numeric_features + [PREDICTION],
        categorical_columns=schema.categorical_features,
    )
    columns = schema.features + [PREDICTION]
    preset = DataDriftPreset(
        columns=columns, drift_share=params.drift_share, num_method=params.num_method,
        cat_method=params.cat_method, threshold=params.threshold,
    )
    as_dataset = lambda frame: Dataset.from_pandas(frame[columns], data_definition=definition)  # noqa: E731
    report = Report([preset], include_tests=True)  # the tests carry Evidently's own drift decisions
    return report.run(current_data=as_dataset(current), reference_data=as_dataset(reference))


def summarise(report: dict, columns: list[str], params: MonitorParams) -> dict:
    """dataset_drift, the drifted columns and each column's drift score, from a report's `dict()`.

    Which way a score drifts depends on the method (a distance above the threshold, a p-value below
    it), so the decisions are Evidently's own per-column tests and its drifted-share test, never
    recomputed here. A report without a score or a decision for every column raises MonitorError.
    """
    scores, drifted, share, dataset_drift = {}, {}, None, None
    for metric in report["metrics"]:
        if metric["config"]["type"].endswith(":ValueDrift"):
            scores[metric["config"]["column"]] = round(float(metric["value"]), 6)
        elif metric["config"]["type"].endswith(":DriftedColumnsCount"):
            share = float(metric["value"]["share"])
    for test in report.get("tests", []):
        config = test["metric_config"]["params"]
        if config["type"].endswith(":ValueDrift"):
            drifted[config["column"]] = test["status"] == "FAIL"
        elif config["type"].endswith(":DriftedColumnsCount"):
            dataset_drift = test["status"] == "FAIL"
    problems = [f"no drift score for '{c}'" for c in columns if c not in scores]
    problems += [f"no drift decision for '{c}'" for c in columns if c not in drifted]
    if share is None or dataset_drift is None:
        problems.append("no drifted-share result")
    if problems:
        raise MonitorError("the drift report is incomplete (is Evidently the locked version?): " + "; ".join(problems))
    drifted_columns = sorted(c for c in columns if drifted[c])
    return {
        "dataset_drift": dataset_drift,
        "drifted_share": share,
        "drifted_columns": drifted_columns,
        "prediction_drift": PREDICTION in drifted_columns,
        "scores": {c: scores[c] for c in columns},
        "method": {"numeric": params.num_method, "categorical": params.cat_method, "threshold": params.threshold},
    }


def run(batch: pd.DataFrame, reference: pd.DataFrame, predictor: Predictor, params: MonitorParams,
        reports_root: Path, name: str = "batch", root: Path | None = None) -> dict:
    """Score both frames, compare them, and write report.html and summary.json in a dated folder.

    With ROOT, the project's reports/index.html is rebuilt to list this run.
    """
    schema = predictor.schema
    reference = reference.sample(min(params.reference_rows, len(reference)), random_state=params.seed)
    frames = {}
    for key, frame in (("reference", reference), ("current", batch)):
        typed = coerce(frame, schema, schema.features, predictor.na_values)
        frames[key] = typed.assign(**{PREDICTION: predictor.predict(typed)["probability"].to_numpy()})
    snapshot = drift_report(frames["reference"], frames["current"], schema, params)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H%M%S.%fZ")
    out_dir = reports_root / stamp[:10] / f"{stamp[11:]}-{name}"
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarise(snapshot.dict(), schema.features + [PREDICTION], params) | {
        "batch": name, "rows": len(batch), "reference_rows": len(reference),
        "report": str(out_dir / "report.html"), "created": stamp,
    }
    snapshot.save_html(str(out_dir / "report.html"))
    write_json(out_dir / "summary.json", summary)
    if root is not None:
        build_index(root)
    return summary


def monitor_batch(source: str, params: Params, root: Path = Path("."), model: str = "champion") -> dict:
    """Compare the CSV batch at SOURCE with the training split, scored by MODEL (a version or an alias)."""
    from driftline.package import predictor_for  # BentoML is only needed here

    _, predictor = predictor_for(params, root, model)
    reference = load_split(splits_dir(root), "train")
    batch = read_csv(source, predictor.schema, predictor.na_values)
    return run(batch, reference, predictor, params.monitor, root / params.monitor.reports_dir, Path(source).stem, root)


def summary_markdown(summary: dict) -> str:
    """The drift summary as a markdown table, drifted columns first."""
    lines = [
        f"**Batch** {summary['batch']} ({summary['rows']} rows): dataset drift **{summary['dataset_drift']}**, "
        f"{len(summary['drifted_columns'])} drifted column(s). Report: {summary['report']}",
        "", "| column | drift score | drifted |", "|---|---|---|",
    ]
    for column, score in sorted(summary["scores"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| {column} | {score:.4f} | {'yes' if column in summary['drifted_columns'] else ''} |")
    return "\n".join(lines)
