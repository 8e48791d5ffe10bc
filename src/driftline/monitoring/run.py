"""Monitoring a batch or a window of the inference log: drift of the data, the predictions, the attributions
and fairness, performance realised and estimated, and the alerts params.yaml's policy raises."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from driftline.config import Params
from driftline.core.artifacts import splits_dir, write_json
from driftline.core.data import coerce, read_csv
from driftline.core.explain import Explainer
from driftline.core.predictor import Predictor
from driftline.core.splits import load_split
from driftline.errors import MonitorError
from driftline.monitoring.alerts import PARITY_GAP, evaluate, raise_alert
from driftline.monitoring.attribution import attribution_drift
from driftline.monitoring.drift import drift_report, prediction_columns, prediction_frame, summarise
from driftline.monitoring.fairness import fairness_drift
from driftline.monitoring.performance import CBPE, DLE, estimator, performance
from driftline.monitoring.segments import segment_summary
from driftline.monitoring.workspace import add_snapshot
from driftline.registry.resolver import resolve_model
from driftline.reporting.index import build_index

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


def run(batch: pd.DataFrame, reference: pd.DataFrame, predictor: Predictor, model_dir: Path, version: str,
        params: Params, reports_root: Path, name: str = "batch", root: Path | None = None,
        outputs: pd.DataFrame | None = None, window: dict | None = None, baseline: Baseline | None = None) -> dict:
    """Compare BATCH with the training split and with the model's own reference, write the reports in a
    dated folder, and raise an alert where params.yaml's policy says so.

    Data and prediction drift (Evidently), performance realised on the rows with a label and estimated on
    those without (CBPE for classification, DLE for regression), drift of SHAP attributions and of fairness.
    OUTPUTS is what the service answered for each row (a log window: task.output_columns); a CSV batch is
    scored here. WINDOW ({"start", "end"}, ISO) is the log window the batch is. With ROOT, the project's
    reports/index.html is rebuilt to list this run, the run becomes a snapshot in the Evidently workspace
    (monitor.workspace, timestamped at the window's end), and alerts are raised. BASELINE: Baseline.of(REFERENCE,
    ...) made once by a caller that runs many batches of one model.
    """
    schema, cfg, task = predictor.schema, params.monitor, predictor.task
    baseline = baseline or Baseline.of(reference, predictor, model_dir, params)
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
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H%M%S.%fZ")
    out_dir = reports_root / stamp[:10] / f"{stamp[11:]}-{slug(name)}"
    summary = summarise(snapshot.dict(), schema.features + numeric + categorical, numeric + categorical, cfg) | {
        "batch": name, "task": task.kind, "rows": len(batch), "reference_rows": len(baseline.frame),
        "report": str(out_dir / "report.html"), "created": stamp,
        "model_version": version, **({"window": window} if window else {}),
        "performance": performance_summary,
        "attribution": attribution_drift(predictor, baseline.background, typed,
                                         model_reference["attribution"], cfg.explain_rows, cfg.seed),
        "fairness": fairness(batch, typed, predicted, y, threshold, params, model_reference),
        "segments": segment_summary(frames, answers, predicted, y, estimate, threshold,
                                    model_reference["fairness"], params),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(out_dir / "report.html"))
    if realised is not None:
        realised.save_html(str(out_dir / "performance.html"))
        summary["performance_report"] = str(out_dir / "performance.html")
    summary["alerts"] = evaluate(summary, cfg.policy)
    if root is not None and summary["alerts"]:
        record = raise_alert(summary, summary["alerts"], params, root)
        summary["alert_record"] = record["record"] if record else None
    write_json(out_dir / "summary.json", summary)
    if root is not None:
        build_index(root)
        add_snapshot(root / cfg.workspace, summary, params.package.model_name)
    return summary


def fairness(batch: pd.DataFrame, typed: pd.DataFrame, predicted: np.ndarray, y: np.ndarray,
             threshold: float | None, params: Params, model_reference: dict) -> dict:
    """fairness_drift over the sensitive attributes BATCH carries (features, or extra columns it was sent with)."""
    schema = params.schema
    extra = [c for c in schema.sensitive if c in batch and c not in typed]
    frame = typed.join(coerce(batch, schema, extra)) if extra else typed
    present = schema.model_copy(update={"sensitive": {k: v for k, v in schema.sensitive.items() if k in frame}})
    return fairness_drift(frame, predicted, y, threshold, present, model_reference["fairness"],
                          params.monitor.min_labelled_rows)


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "batch"


def monitor_batch(source: str, params: Params, root: Path = Path("."), model: str = "champion") -> dict:
    """Compare the CSV batch at SOURCE (with the target column, where labels are known) with the training
    split, scored by MODEL (a version or an alias)."""
    resolved = resolve_model(params, root, model)
    predictor = resolved.predictor()
    batch = read_csv(source, params.schema, predictor.na_values)
    return run(batch, load_split(splits_dir(root), "train"), predictor, resolved.path, resolved.entry["version"],
               params, root / params.monitor.reports_dir, Path(source).stem, root)


def monitor_window(params: Params, root: Path = Path("."), start: datetime | None = None,
                   end: datetime | None = None, model: str = "champion") -> dict:
    """Compare the inference log's records of [START, END) (with their late labels) with the training split
    and MODEL's reference; the answers are those the service gave."""
    # imported here: monitoring a CSV batch needs neither the log nor sqlalchemy
    from sqlalchemy.engine import make_url

    from driftline.serving.log import log_url, read_window

    resolved = resolve_model(params, root, model)
    predictor = resolved.predictor()
    url = log_url(params.serve.log_url, root)
    window = read_window(url, predictor.schema, start, end)
    name = log_name(start, end)
    if window.empty:
        raise MonitorError(f"the inference log has no records in {name[4:]} ({make_url(url).render_as_string()})")
    edges = window_edges(start, end or datetime.now(timezone.utc))
    summary = run(window, load_split(splits_dir(root), "train"), predictor, resolved.path, resolved.entry["version"],
                  params, root / params.monitor.reports_dir, name, root,
                  outputs=window[predictor.task.output_columns], window=edges)
    return summary | {"model_versions": sorted(window["model_version"].unique().tolist())}


def window_edges(start: datetime | None, end: datetime) -> dict:
    """A log window as a summary's `window`: its edges in UTC, ISO (an open start is None)."""
    return {"start": None if start is None else start.astimezone(timezone.utc).isoformat(),
            "end": end.astimezone(timezone.utc).isoformat()}


def log_name(start: datetime | None, end: datetime | None) -> str:
    """A log window's batch name, `log START..END` (UTC, to the minute; an open edge is blank)."""
    shown = ["" if moment is None else moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
             for moment in (start, end)]
    return f"log {shown[0]}..{shown[1]}"


SHOWN = {"binary": ("roc_auc", "accuracy", "f1"), "multiclass": ("log_loss", "accuracy", "macro_f1", "roc_auc"),
         "regression": ("rmse", "mae", "r2", "coverage")}  # the performance figures summary_markdown lists


def summary_markdown(summary: dict) -> str:
    """The drift summary as a markdown table, drifted columns first, then performance, attributions, fairness."""
    kind = summary.get("task", "binary")  # summaries written before tasks were all binary
    lines = [
        f"**Batch** {summary['batch']} ({summary['rows']} rows): dataset drift **{summary['dataset_drift']}**, "
        f"{len(summary['drifted_columns'])} drifted column(s). Report: {summary['report']}",
        "", "| column | drift score | drifted |", "|---|---|---|",
    ]
    for column, score in sorted(summary["scores"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| {column} | {score:.4f} | {'yes' if column in summary['drifted_columns'] else ''} |")
    perf = summary.get("performance")

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
    if summary.get("attribution"):
        lines += ["", f"**Attributions**: rank agreement with the audit (nDCG) {summary['attribution']['ndcg']:.3f}"]
    gap = PARITY_GAP[kind]
    for name, gaps in (summary.get("fairness") or {}).items():
        lines.append(f"**Fairness** {name}: {gap} {figure(gaps, gap)} (audit {figure(gaps, 'reference_' + gap)})")
    return "\n".join(lines)
