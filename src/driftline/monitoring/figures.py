"""A monitoring summary as an Evidently snapshot: each of driftline's figures (drift scores, performance realised
and estimated with its band, label coverage, attributions, fairness gaps, alerts) becomes one value that the
workspace's dashboard panels draw over time.

Each figure is a `DriftlineFigure` metric with two labels, `group` (which panel draws it) and `label` (which
series), so that one panel can ask for a whole group without knowing its columns in advance. The values are
read from a one-row data set whose columns are the figures: the snapshot is built from the summary alone, so
rebuilding the workspace from the stored summary.json files gives the same snapshots.
"""

from __future__ import annotations

import math
from typing import Optional

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.core.metric_types import SingleValueCalculation, SingleValueMetric
from evidently.core.report import Context, Snapshot

from driftline.core.metrics import PRIMARY
from driftline.monitoring.drift import PREDICTION
from driftline.monitoring.summary import Summary
from driftline.monitoring.uncertainty import BAND
from driftline.monitoring.windows import window_end

SOURCES = ("realised", "estimated", "estimated_on_labelled", "reference")  # the summary's performance sections


class DriftlineFigure(SingleValueMetric):
    """One figure of a monitoring summary: the panel GROUP that draws it and its series LABEL there."""

    group: str
    label: str

    @property
    def column(self) -> str:
        return f"{self.group}|{self.label}"


class DriftlineFigureCalculation(SingleValueCalculation[DriftlineFigure]):
    def calculate(self, context: Context, current_data: Dataset, reference_data: Optional[Dataset]):
        return self.result(float(current_data.column(self.metric.column).data.iloc[0])), None

    def display_name(self) -> str:
        return f"{self.metric.group}: {self.metric.label}"


def figures(summary: Summary) -> dict[tuple[str, str], float]:
    """The summary's numbers as {(group, label): value}; figures the run did not have (None) are left out."""
    values: dict[tuple[str, str], object] = {
        ("drift", "drifted share"): summary.drifted_share, ("drift", "dataset drift"): summary.dataset_drift,
        ("drift", "prediction drift"): summary.prediction_drift,
        ("drift", "drifted columns"): len(summary.drifted_columns),
        ("alerts", "count"): len(summary.alerts),
        ("model_version", summary.model_version): summary.rows,
    }
    for column, score in summary.scores.items():
        # the watched answers: the probability or prediction, a multiclass model's class probabilities
        answer = column == PREDICTION or column.startswith("probability_")
        values[("drift.prediction" if answer else "drift.score", column)] = score
    values |= {("alerts.rule", alert["rule"]): 1 for alert in summary.alerts}
    values |= performance_figures(summary.performance or {}) | segment_figures(summary)
    attribution = summary.attribution or {}
    values[("attribution", "nDCG")] = attribution.get("ndcg")
    values |= {("attribution.share", column): share for column, share in (attribution.get("shares") or {}).items()}
    for attribute, gaps in (summary.fairness or {}).items():
        for gap, value in gaps.items():
            if gap != "groups":
                audit = gap.startswith("reference_")
                values[(f"fairness.{gap.removeprefix('reference_')}", f"{attribute} (audit)" if audit else attribute)] \
                    = value
    return finite(values)


def performance_figures(performance: dict) -> dict[tuple[str, str], object]:
    """Per metric (group `performance.<metric>`): realised, estimated with its ±BAND sampling-error bounds
    (`sampling_error`: {metric: the estimate's standard error}), estimated on the labelled rows, test, and the
    window's lower and upper thresholds (`thresholds`: {metric: {"lower", "upper"}}, from reference chunks)."""
    values: dict[tuple[str, str], object] = {("labels", "coverage"): performance.get("label_coverage")}
    for source in SOURCES:
        label = "test" if source == "reference" else source.replace("_", " ")
        values |= {(f"performance.{metric}", label): v for metric, v in (performance.get(source) or {}).items()}
    estimated = performance.get("estimated") or {}
    for metric, error in (performance.get("sampling_error") or {}).items():
        if estimated.get(metric) is not None and error is not None:
            values[(f"performance.{metric}", f"estimated - {BAND} SE")] = estimated[metric] - BAND * error
            values[(f"performance.{metric}", f"estimated + {BAND} SE")] = estimated[metric] + BAND * error
    for metric, bounds in (performance.get("thresholds") or {}).items():
        values |= {(f"performance.{metric}", f"{edge} threshold"): bounds.get(edge) for edge in ("lower", "upper")}
    return values


def segment_figures(summary: Summary) -> dict[tuple[str, str], float]:
    """The segments' numbers as figures() gives a summary's, {(group, label): value}, the label the segment
    (`sex=Female`): rows, drifted share and columns, prediction drift, the task's primary metric realised,
    estimated and as expected on the reference segment, and the fairness gaps (label `sex=Female race`).
    Summaries without segments give none; figures the run did not have are left out."""
    metric = PRIMARY[summary.task]
    values: dict[tuple[str, str], object] = {}
    for label, segment in ((summary.segments or {}).get("values") or {}).items():
        values[("segment.rows", label)] = segment["rows"]
        values[("segment.drifted share", label)] = segment["drifted_share"]
        drifted = segment["drifted_columns"]
        values[("segment.drifted columns", label)] = None if drifted is None else len(drifted)
        values[("segment.prediction drift", label)] = segment["prediction_drift"]
        for source in ("realised", "estimated", "reference"):
            values[(f"segment.{metric} {source}", label)] = (segment["performance"].get(source) or {}).get(metric)
        for attribute, gaps in (segment.get("fairness") or {}).items():
            values |= {(f"segment.fairness.{gap}", f"{label} {attribute}"): value
                       for gap, value in gaps.items() if gap != "groups" and not gap.startswith("reference_")}
    return finite(values)


def finite(values: dict) -> dict[tuple[str, str], float]:
    """The figures that are numbers (not None, NaN or infinite), as floats: Evidently's series take no others."""
    return {key: float(v) for key, v in values.items() if isinstance(v, (int, float)) and math.isfinite(v)}


def snapshot(summary: Summary, values: dict[tuple[str, str], float]) -> Snapshot:
    """The Evidently snapshot of one monitoring run: its figures (VALUES, as figures() gives them), timestamped
    at the window's end, with tags and metadata that name the model version, the batch or window, and the task."""
    metrics = [DriftlineFigure(group=group, label=label) for group, label in values]
    row = pd.DataFrame([{metric.column: value for metric, value in zip(metrics, values.values())}])
    data = Dataset.from_pandas(row, data_definition=DataDefinition(numerical_columns=list(row.columns)))
    kind, window = summary.task, summary.window or {}
    metadata = {"model_version": summary.model_version, "batch": summary.batch, "task": kind,
                "created": summary.created, "report": summary.report}
    metadata |= {f"window_{edge}": str(window[edge]) for edge in ("start", "end") if window.get(edge)}
    tags = [f"model_version:{summary.model_version}", f"task:{kind}", f"batch:{summary.batch}",
            "window" if window else "batch"]
    return Report(metrics).run(data, None, timestamp=window_end(summary), tags=tags, metadata=metadata,
                               name=summary.batch)
