"""Monitoring: Evidently data drift of a batch (features and predictions) against the training split."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

from driftline.config import MonitorParams, Params, Schema
from driftline.data import coerce, read_csv
from driftline.featurize import load_split
from driftline.predictor import Predictor

PREDICTION = "prediction"
# Where dvc.yaml's featurize and package stages write; the reference and the model come from there.
SPLITS_DIR = Path("artifacts/featurize")
PACKAGE_INFO = Path("artifacts/package/package.json")


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
    return Report([preset]).run(current_data=as_dataset(current), reference_data=as_dataset(reference))


def summarise(snapshot, params: MonitorParams) -> dict:
    """dataset_drift, the drifted columns and each column's drift score, from the report's metrics."""
    scores, share = {}, None
    for metric in snapshot.dict()["metrics"]:
        name, value = metric["metric_name"], metric["value"]
        if name.startswith("ValueDrift("):
            scores[metric["config"]["column"]] = round(float(value), 6)
        elif name.startswith("DriftedColumnsCount("):
            share = float(value["share"])
    drifted = sorted(c for c, s in scores.items() if s >= params.threshold)
    return {
        "dataset_drift": bool(share is not None and share >= params.drift_share),
        "drifted_share": share,
        "drifted_columns": drifted,
        "prediction_drift": PREDICTION in drifted,
        "scores": scores,
        "method": {"numeric": params.num_method, "categorical": params.cat_method, "threshold": params.threshold},
    }


def run(batch: pd.DataFrame, reference: pd.DataFrame, predictor: Predictor, params: MonitorParams,
        reports_root: Path, name: str = "batch") -> dict:
    """Score both frames, compare them, and write report.html and summary.json in a dated folder."""
    schema = predictor.schema
    reference = reference.sample(min(params.reference_rows, len(reference)), random_state=params.seed)
    frames = {}
    for key, frame in (("reference", reference), ("current", batch)):
        typed = coerce(frame, schema, schema.features)
        frames[key] = typed.assign(**{PREDICTION: predictor.predict(typed)["probability"].to_numpy()})
    snapshot = drift_report(frames["reference"], frames["current"], schema, params)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H%M%S.%fZ")
    out_dir = reports_root / stamp[:10] / f"{stamp[11:]}-{name}"
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarise(snapshot, params) | {
        "batch": name, "rows": len(batch), "reference_rows": len(reference),
        "report": str(out_dir / "report.html"), "created": stamp,
    }
    snapshot.save_html(str(out_dir / "report.html"))
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def monitor_batch(source: str, params: Params, root: Path = Path(".")) -> dict:
    """Compare the CSV batch at SOURCE with the training split, using the packaged model."""
    from driftline.package import packaged_predictor  # BentoML is only needed here

    predictor = packaged_predictor(root / PACKAGE_INFO)
    reference = load_split(root / SPLITS_DIR, "train")
    batch = read_csv(source, params.data)
    return run(batch, reference, predictor, params.monitor, root / params.monitor.reports_dir, Path(source).stem)


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
