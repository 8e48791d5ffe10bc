"""Monitoring's use cases, which the CLI and the Prefect flows call alike: a CSV batch, a window of the inference
log, and a backfill of a span of it. Each resolves its model, reads its rows, has them analysed
(monitoring.analysis), writes each run's reports and summary.json under monitor.reports_dir, and publishes: the
report index rebuilt (reporting.index) and a snapshot per run added to the Evidently workspace. A run of now
raises its alerts; a backfill's windows are past ones, so theirs are kept in their summaries (the plots mark
them) but not raised: history must not page anyone, nor retrain.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd

from driftline.config import Params
from driftline.core.artifacts import splits_dir, write_json
from driftline.core.data import read_csv
from driftline.core.layout import RUN_STAMP, stamp
from driftline.core.predictor import Predictor
from driftline.core.splits import load_split
from driftline.errors import MonitorError
from driftline.monitoring.alerts import raise_alert
from driftline.monitoring.analysis import Baseline, analyse
from driftline.monitoring.summary import Summary
from driftline.monitoring.windows import log_name, window_edges, windows
from driftline.monitoring.workspace import add_snapshots
from driftline.registry.resolver import ResolvedModel, resolve_model
from driftline.reporting.index import build_index


def monitor_batch(source: str, params: Params, root: Path = Path("."), model: str = "champion") -> Summary:
    """Compare the CSV batch at SOURCE (with the target column, where labels are known) with the training
    split, scored by MODEL (a version or an alias)."""
    resolved = resolve_model(params, root, model)
    predictor = resolved.predictor()
    batch = read_csv(source, params.schema, predictor.na_values)
    return monitor(batch, model_baseline(resolved, predictor, params, root), predictor, resolved.entry["version"],
                   params, root, Path(source).stem)


def monitor_window(params: Params, root: Path = Path("."), start: datetime | None = None,
                   end: datetime | None = None, model: str = "champion") -> Summary:
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
    summary = monitor(window, model_baseline(resolved, predictor, params, root), predictor, resolved.entry["version"],
                      params, root, name, outputs=window[predictor.task.output_columns], window=edges)
    summary.model_versions = sorted(window["model_version"].unique().tolist())
    return summary


def backfill(params: Params, root: Path, start: datetime, end: datetime | None, every: timedelta,
             model: str = "champion") -> dict:
    """Monitor each window of EVERY in [START, END) (END: now) of the inference log with MODEL (a version or an
    alias) and add one snapshot each; windows without records are skipped. The model, the training split, its
    scored sample, the estimator, the SHAP background and the log are loaded once for the whole span, and the
    report index is rebuilt and the snapshots are added once, at the end.

    Returns {"summaries": [...], "skipped": [{"start", "end"}...]}. A span without a record raises MonitorError.
    """
    # imported here, as monitor_window does: monitoring a CSV batch needs neither the log nor sqlalchemy
    from driftline.serving.log import log_url, read_window

    end = end or datetime.now(timezone.utc)
    spans = windows(start, end, every)
    resolved = resolve_model(params, root, model)
    predictor = resolved.predictor()
    log = read_window(log_url(params.serve.log_url, root), predictor.schema, start, end)
    if log.empty:
        raise MonitorError(f"the inference log has no records in {start.isoformat()}..{end.isoformat()}")
    shared = model_baseline(resolved, predictor, params, root)
    summaries, skipped = [], []
    for lower, upper in spans:
        edges = window_edges(lower, upper)
        part = log[(log["created"] >= lower) & (log["created"] < upper)].reset_index(drop=True)
        if part.empty:
            skipped.append(edges)
            continue
        summary, folder = report(part, shared, predictor, resolved.entry["version"], params,
                                 root / params.monitor.reports_dir, log_name(lower, upper),
                                 outputs=part[predictor.task.output_columns], window=edges)
        write_json(folder / "summary.json", summary.to_json())
        summaries.append(summary)
    publish(params, root, summaries)
    return {"summaries": summaries, "skipped": skipped}


def model_baseline(resolved: ResolvedModel, predictor: Predictor, params: Params, root: Path) -> Baseline:
    """What the batches of RESOLVED's model are compared with: the project's training split, and its folder."""
    return Baseline.of(load_split(splits_dir(root), "train"), predictor, resolved.path, params)


def monitor(batch: pd.DataFrame, baseline: Baseline, predictor: Predictor, version: str, params: Params,
            root: Path, name: str, outputs: pd.DataFrame | None = None, window: dict | None = None) -> Summary:
    """One run of now: BATCH analysed and reported under ROOT's monitor.reports_dir (report), its alerts raised
    (the record's path kept in the summary as `alert_record`), its summary.json written, and the run published."""
    summary, folder = report(batch, baseline, predictor, version, params, root / params.monitor.reports_dir, name,
                             outputs, window)
    if summary.alerts:
        record = raise_alert(summary, summary.alerts, params, root)
        summary.alert_record = record["record"] if record else None
    write_json(folder / "summary.json", summary.to_json())
    publish(params, root, [summary])
    return summary


def report(batch: pd.DataFrame, baseline: Baseline, predictor: Predictor, version: str, params: Params,
           reports_dir: Path, name: str, outputs: pd.DataFrame | None = None,
           window: dict | None = None) -> tuple[Summary, Path]:
    """BATCH analysed (monitoring.analysis: analyse) and its Evidently reports written in a new folder under
    REPORTS_DIR, <date>/<time>-<name>/: the summary, which the caller writes there as summary.json, and the folder."""
    created = stamp(RUN_STAMP)
    folder = reports_dir / created[:10] / f"{created[11:]}-{slug(name)}"
    analysis = analyse(batch, baseline, predictor, version, params, name, folder, created, outputs, window)
    folder.mkdir(parents=True, exist_ok=True)
    analysis.drift.save_html(str(folder / "report.html"))
    if analysis.performance is not None:
        analysis.performance.save_html(str(folder / "performance.html"))
    return analysis.summary, folder


def publish(params: Params, root: Path, summaries: list[Summary]) -> None:
    """The monitoring runs of SUMMARIES shown: ROOT's report index rebuilt, and a snapshot of each added to the
    Evidently workspace (monitor.workspace, timestamped at its window's end)."""
    build_index(root)
    add_snapshots(root / params.monitor.workspace, summaries, params.package.model_name)


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "batch"
