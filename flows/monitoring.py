"""Prefect flow `monitoring`: a window of the inference log (or a CSV batch) against the training data and the
model's reference, with links to the reports; an alert (params.yaml's policy) emits the event that retrains."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact

from driftline import monitor as monitoring_lib
from driftline.config import load_params


@task
def monitor(root: str, batch: str | None, hours: float) -> dict:
    """The monitoring summary of BATCH (a CSV), or of the inference log's last HOURS."""
    params, root_path = load_params(Path(root) / "params.yaml"), Path(root)
    if batch is not None:
        return monitoring_lib.monitor_batch(batch, params, root_path)
    return monitoring_lib.monitor_window(params, root_path, datetime.now(timezone.utc) - timedelta(hours=hours))


@flow(name="monitoring", log_prints=True)
def monitoring(root: str = ".", hours: float = 24, batch: str | None = None) -> dict:
    """Monitor the inference log's last HOURS (the daily deployment), or BATCH (a CSV path or fsspec URL)
    when given; publish the summary and the report links."""
    root_path = Path(root).resolve()
    options = load_params(root_path / "params.yaml").flows
    summary = monitor.with_options(retries=options.retries, retry_delay_seconds=options.retry_delay_seconds)(
        str(root_path), batch, hours
    )
    report = Path(summary["report"]).resolve()
    create_link_artifact(key="drift-report", link=report.as_uri(), link_text=f"Drift report: {summary['batch']}")
    create_markdown_artifact(key="drift-summary", markdown=monitoring_lib.summary_markdown(summary))
    print(f"dataset drift: {summary['dataset_drift']}; drifted columns: {summary['drifted_columns']}; "
          f"alerts: {[a['rule'] for a in summary.get('alerts', [])]}")
    return summary
