"""Data and prediction drift: Evidently's DataDriftPreset over the features and the model's answers, and its
decisions read back from the report."""

from __future__ import annotations

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

from driftline.config import MonitorParams
from driftline.core.task import Task
from driftline.errors import MonitorError
from driftline.schema import Schema

PREDICTION = "prediction"


def prediction_columns(task: Task) -> tuple[list[str], list[str]]:
    """The answer columns whose drift is watched, (numeric, categorical): the positive probability (binary) or
    the prediction (regression) as `prediction`; a multiclass model's decided label as `prediction` and each
    class's probability (`probability_<class>`)."""
    if task.kind == "multiclass":
        return task.probability_columns, [PREDICTION]
    return [PREDICTION], []


def prediction_frame(task: Task, outputs: pd.DataFrame) -> pd.DataFrame:
    """The watched answer columns (prediction_columns) from OUTPUTS, a frame of task.output_columns."""
    source = {"binary": "probability", "multiclass": "label", "regression": "prediction"}[task.kind]
    frame = pd.DataFrame({PREDICTION: outputs[source].to_numpy()}, index=outputs.index)
    return frame.join(outputs[task.probability_columns]) if task.kind == "multiclass" else frame


def drift_report(reference: pd.DataFrame, current: pd.DataFrame, schema: Schema, params: MonitorParams,
                 predictions: tuple[list[str], list[str]]):
    """Run Evidently's DataDriftPreset over the features and the PREDICTIONS columns (numeric, categorical)."""
    numeric, categorical = predictions
    definition = DataDefinition(
        numerical_columns=schema.numeric_features + numeric,
        categorical_columns=schema.categorical_features + categorical,
    )
    columns = schema.features + numeric + categorical
    preset = DataDriftPreset(
        columns=columns, drift_share=params.drift_share, num_method=params.num_method,
        cat_method=params.cat_method, threshold=params.threshold,
    )
    as_dataset = lambda frame: Dataset.from_pandas(frame[columns], data_definition=definition)  # noqa: E731
    report = Report([preset], include_tests=True)  # the tests carry Evidently's own drift decisions
    return report.run(current_data=as_dataset(current), reference_data=as_dataset(reference))


def summarise(report: dict, columns: list[str], predictions: list[str], params: MonitorParams) -> dict:
    """dataset_drift, the drifted ones of COLUMNS, whether any of them is one of the PREDICTIONS columns, and
    each column's drift score, from a report's `dict()`.

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
        "prediction_drift": any(c in drifted_columns for c in predictions),
        "scores": {c: scores[c] for c in columns},
        "method": {"numeric": params.num_method, "categorical": params.cat_method, "threshold": params.threshold},
    }
