"""Backfill: each window of a span of the inference log monitored in turn, as the scheduled deployment would
have monitored it, so that a new install, or a new dashboard panel, sees the history.

The model, the training split, its scored sample, the estimator, the SHAP background and the log are loaded
once for the whole span. A window is a past one, so its
alerts are evaluated and kept in its summary (the plots mark them) but not raised: history must not page
anyone, nor retrain. The report index is rebuilt and the snapshots are added once, at the end.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from driftline.config import Params
from driftline.core.artifacts import splits_dir
from driftline.core.splits import load_split
from driftline.errors import MonitorError
from driftline.monitoring.run import Baseline, log_name, run, window_edges
from driftline.monitoring.workspace import add_snapshots
from driftline.registry.resolver import resolve_model
from driftline.reporting.index import build_index


def windows(start: datetime, end: datetime, every: timedelta) -> list[tuple[datetime, datetime]]:
    """[START, END) cut into windows of EVERY from START; the last one ends at END."""
    if every <= timedelta(0):
        raise MonitorError(f"the window length must be positive, not {every}")
    if end <= start:
        raise MonitorError(f"the span {start.isoformat()}..{end.isoformat()} is empty")
    edges, moment = [], start
    while moment < end:
        edges.append((moment, min(moment + every, end)))
        moment += every
    return edges


def backfill(params: Params, root: Path, start: datetime, end: datetime | None, every: timedelta,
             model: str = "champion") -> dict:
    """Monitor each window of EVERY in [START, END) (END: now) of the inference log with MODEL (a version or an
    alias) and add one snapshot each; windows without records are skipped.

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
    reference = load_split(splits_dir(root), "train")
    baseline = Baseline.of(reference, predictor, resolved.path, params)
    summaries, skipped = [], []
    for lower, upper in spans:
        edges = window_edges(lower, upper)
        part = log[(log["created"] >= lower) & (log["created"] < upper)].reset_index(drop=True)
        if part.empty:
            skipped.append(edges)
            continue
        summaries.append(run(part, reference, predictor, resolved.path, resolved.entry["version"], params,
                             root / params.monitor.reports_dir, log_name(lower, upper),
                             outputs=part[predictor.task.output_columns], window=edges, baseline=baseline))
    build_index(root)
    add_snapshots(root / params.monitor.workspace, summaries, params.package.model_name)
    return {"summaries": summaries, "skipped": skipped}

