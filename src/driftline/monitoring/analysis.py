"""A batch or a window of the inference log analysed against its model's baseline: drift of the data, the
predictions, the attributions and fairness, performance realised and estimated, and the alerts params.yaml's
policy would raise. Frames and a baseline in, a summary and the Evidently reports out; the use cases
(orchestration.monitor) write them, raise the alerts and publish the run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from evidently import Run

from driftline.config import Params
from driftline.core.data import coerce
from driftline.core.explain import Explainer
from driftline.core.predictor import Predictor
from driftline.monitoring.alerts import PARITY_GAP, evaluate
from driftline.monitoring.attribution import attribution_drift
from driftline.monitoring.drift import drift_report, prediction_columns, prediction_frame, summarise
from driftline.monitoring.fairness import fairness_drift
from driftline.monitoring.performance import CBPE, DLE, estimator, performance
from driftline.monitoring.segments import segment_summary
from driftline.monitoring.summary import Summary

PREDICTED = {"binary": "probability", "multiclass": "probabilities", "regression": "prediction"}  # fairness reads it


@dataclass(frozen=True)
class Baseline:
    """What every batch of one model is compared with: its reference.json, the training sample with the model's
    answers (FRAME), its performance estimator and its SHAP background. A backfill's windows share one."""

    stored: dict
    frame: pd.DataFrame
    estimate: CBPE | DLE
    background: pd.DataFrame

    @classmethod
    def of(cls, reference: pd.DataFrame, predictor: Predictor, model_dir: Path, params: Params) -> Baseline:
        """REFERENCE (the training split) sampled by monitor.reference_rows and scored, with MODEL_DIR's files."""
        cfg, task = params.monitor, predictor.task
        stored = json.loads((model_dir / "reference.json").read_text())
        sample = reference.sample(min(cfg.reference_rows, len(reference)), random_state=cfg.seed)
        return cls(stored, sample.join(prediction_frame(task, predictor.predict(sample))),
                   estimator(predictor, model_dir, stored), Explainer.load(predictor, model_dir).background)


@dataclass(frozen=True)
class Analysis:
    """A batch's summary and the Evidently reports it names: DRIFT (summary.report) and PERFORMANCE
    (summary.performance_report; None without realised figures), for the caller to save."""

    summary: Summary
    drift: Run
    performance: Run | None


def analyse(batch: pd.DataFrame, baseline: Baseline, predictor: Predictor, version: str, params: Params, name: str,
            folder: Path, created: str, outputs: pd.DataFrame | None = None, window: dict | None = None) -> Analysis:
    """Compare BATCH with the training split and with the model's own reference (BASELINE), and evaluate
    params.yaml's alert policy on the result.

    Data and prediction drift (Evidently), performance realised on the rows with a label and estimated on
    those without (CBPE for classification, DLE for regression), drift of SHAP attributions and of fairness.
    OUTPUTS is what the service answered for each row (a log window: task.output_columns); a CSV batch is
    scored here. WINDOW ({"start", "end"}, ISO) is the log window the batch is. The summary names the run
    NAME, the model VERSION, when it ran (CREATED, core.layout's RUN_STAMP) and the reports in FOLDER, where
    the caller saves them; nothing is written here.
    """
    schema, cfg, task = predictor.schema, params.monitor, predictor.task
    model_reference, estimate = baseline.stored, baseline.estimate
    typed = coerce(batch, schema, schema.features, predictor.na_values)
    # the answers are the batch's rows in order, whatever their index: the drift report joins them by index
    outputs = predictor.predict(typed) if outputs is None else outputs.set_axis(typed.index)
    answers = task.answers(outputs)
    frames = {"reference": baseline.frame, "current": typed.join(prediction_frame(task, outputs))}
    numeric, categorical = prediction_columns(task)
    snapshot = drift_report(frames["reference"], frames["current"], schema, cfg, (numeric, categorical))
    y = task.late_targets(batch, predictor.na_values)
    threshold = predictor.threshold if task.kind == "binary" else None
    performance_summary, realised = performance(
        task, answers, typed, y, estimate, model_reference["metrics"], cfg.min_labelled_rows,
        params.evaluate.calibration_bins, threshold)
    predicted = answers[PREDICTED[task.kind]]
    found = summarise(snapshot.dict(), schema.features + numeric + categorical, numeric + categorical, cfg) | {
        "batch": name, "task": task.kind, "rows": len(batch), "reference_rows": len(baseline.frame),
        "report": str(folder / "report.html"), "created": created,
        "model_version": version, **({"window": window} if window else {}),
        "performance": performance_summary,
        "attribution": attribution_drift(predictor, baseline.background, typed,
                                         model_reference["attribution"], cfg.explain_rows, cfg.seed),
        "fairness": fairness(batch, typed, predicted, y, threshold, params, model_reference),
        "segments": segment_summary(frames, answers, predicted, y, estimate, threshold,
                                    model_reference["fairness"], params),
    }
    if realised is not None:
        found["performance_report"] = str(folder / "performance.html")
    summary = Summary.model_validate(found)
    summary.alerts = evaluate(summary, cfg.policy)
    return Analysis(summary, snapshot, realised)


def fairness(batch: pd.DataFrame, typed: pd.DataFrame, predicted: np.ndarray, y: np.ndarray,
             threshold: float | None, params: Params, model_reference: dict) -> dict:
    """fairness_drift over the sensitive attributes BATCH carries (features, or extra columns it was sent with)."""
    schema = params.schema
    extra = [c for c in schema.sensitive if c in batch and c not in typed]
    frame = typed.join(coerce(batch, schema, extra)) if extra else typed
    present = schema.model_copy(update={"sensitive": {k: v for k, v in schema.sensitive.items() if k in frame}})
    return fairness_drift(frame, predicted, y, threshold, present, model_reference["fairness"],
                          params.monitor.min_labelled_rows)


SHOWN = {"binary": ("roc_auc", "accuracy", "f1"), "multiclass": ("log_loss", "accuracy", "macro_f1", "roc_auc"),
         "regression": ("rmse", "mae", "r2", "coverage")}  # the performance figures summary_markdown lists


def summary_markdown(summary: Summary) -> str:
    """The drift summary as a markdown table, drifted columns first, then performance, attributions, fairness."""
    kind = summary.task
    lines = [
        f"**Batch** {summary.batch} ({summary.rows} rows): dataset drift **{summary.dataset_drift}**, "
        f"{len(summary.drifted_columns)} drifted column(s). Report: {summary.report}",
        "", "| column | drift score | drifted |", "|---|---|---|",
    ]
    for column, score in sorted(summary.scores.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {column} | {score:.4f} | {'yes' if column in summary.drifted_columns else ''} |")
    perf = summary.performance

    def figure(values: dict | None, key: str) -> str:
        return "-" if not values or values.get(key) is None else f"{values[key]:.4f}"

    if perf:
        method = perf.get("method", "CBPE")
        lines += ["", f"**Performance** ({perf['labelled_rows']} labelled rows, coverage {perf['label_coverage']:.0%})",
                  "", f"| metric | realised | estimated ({method}) on the labelled | estimated on the unlabelled "
                      "| test |", "|---|---|---|---|---|"]
        lines += [f"| {k} | {figure(perf['realised'], k)} | {figure(perf['estimated_on_labelled'], k)} | "
                  f"{figure(perf['estimated'], k)} | {figure(perf['reference'], k)} |"
                  for k in SHOWN[kind]]
    if summary.attribution:
        lines += ["", f"**Attributions**: rank agreement with the audit (nDCG) {summary.attribution['ndcg']:.3f}"]
    gap = PARITY_GAP[kind]
    for name, gaps in (summary.fairness or {}).items():
        lines.append(f"**Fairness** {name}: {gap} {figure(gaps, gap)} (audit {figure(gaps, 'reference_' + gap)})")
    return "\n".join(lines)
