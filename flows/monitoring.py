"""Prefect flow `monitoring`: drift of one batch against the training data, with a link to the report."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact

from driftline import monitor as monitoring_lib
from driftline.config import load_params


@task
def monitor(root: str, batch: str) -> dict:
    """Evidently drift report for the batch; returns its summary."""
    return monitoring_lib.monitor_batch(batch, load_params(Path(root) / "params.yaml"), Path(root))


@flow(name="monitoring", log_prints=True)
def monitoring(batch: str, root: str = ".") -> dict:
    """Monitor BATCH (a CSV path or fsspec URL) and publish the summary and the report link."""
    root_path = Path(root).resolve()
    options = load_params(root_path / "params.yaml").flows
    summary = monitor.with_options(retries=options.retries, retry_delay_seconds=options.retry_delay_seconds)(
        str(root_path), batch
    )
    report = Path(summary["report"]).resolve()
    create_link_artifact(key="drift-report", link=report.as_uri(), link_text=f"Drift report: {summary['batch']}")
    create_markdown_artifact(key="drift-summary", markdown=monitoring_lib.summary_markdown(summary))
    print(f"dataset drift: {summary['dataset_drift']}; drifted columns: {summary['drifted_columns']}")
    return summary
