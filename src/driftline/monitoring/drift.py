"""Data and prediction drift: Evidently's DataDriftPreset over the features and the predicted probability,
and its decisions read back from the report."""

from __future__ import annotations

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

from driftline.config import MonitorParams, Schema
from driftline.errors import MonitorError

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
