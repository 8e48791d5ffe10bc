"""The Prefect flows: `training` runs the dvc.yaml stages as one task each, in DVC's order, then the release;
`monitoring` checks a window of the inference log (or a CSV batch), publishes the reports and purges the log
past serve.log_retention_days. An alert (params.yaml's policy) emits the event that prefect.yaml's trigger
turns into a training run, which records the alert as its version's trigger.
`rollout_decision` judges a running rollout on the log (promote, wait or roll back) and publishes the decision.

flows/*.py, prefect.yaml's entry points, only import these.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from dvc.repo import Repo
from prefect import flow, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from driftline.config import load_params
from driftline.monitoring.analysis import summary_markdown
from driftline.monitoring.summary import Summary
from driftline.orchestration import pipeline
from driftline.orchestration import release as releasing
from driftline.orchestration.monitor import monitor_batch, monitor_window
from driftline.registry.store import Registry
from driftline.release import decide as deciding
from driftline.release.rollout_decision import RolloutDecision
from driftline.serving import retention


@task(cache_policy=NO_CACHE)  # DVC is the cache: it skips stages whose inputs did not change
def reproduce(repo: Repo, stage: str) -> pipeline.StageRun:
    """Reproduce one stage through DVC (skipped when up to date); one line when it is done."""
    result = pipeline.reproduce(repo, stage)
    print(f"{stage}: {result.status} in {result.seconds:.1f} s {result.key_figure}", flush=True)
    return result


@task(cache_policy=NO_CACHE)
def release(root: str, alert: str | None = None) -> dict:
    """Register the packaged model, gate it, check its bento serves, and promote it if blessed (ALERT: the alert
    record that started this run, kept as the version's trigger)."""
    return releasing.release(load_params(Path(root) / "params.yaml"), Path(root), alert)


@flow(name="training")  # prints go to stdout as they happen: `driftline run` shows each stage live
def training(root: str = ".", alert: str | None = None) -> dict:
    """Run every dvc.yaml stage in order, then the release; publish the metrics and the gate as artifacts.
    ALERT: the record of the monitoring alert whose event started this run (prefect.yaml's trigger passes it)."""
    root_path = Path(root).resolve()
    options = load_params(root_path / "params.yaml").flows
    retrying = {"retries": options.retries, "retry_delay_seconds": options.retry_delay_seconds}
    runs = []
    with Repo(str(root_path)) as repo:
        for stage in pipeline.stage_order(repo):
            runs.append(reproduce.with_options(name=stage, **retrying)(repo, stage))
        create_markdown_artifact(key="training-metrics", markdown=pipeline.metrics_markdown(repo, runs),
                                 description="Stages and metrics of this training run")
    result = release(str(root_path), alert)
    create_table_artifact(key="gate", table=result["blessing"].to_json()["checks"],
                          description=f"Gate of version {result['version']}: blessed={result['blessed']}, "
                                      f"promoted={result['promoted']}")
    return {"stages": runs, "release": result}


@task
def monitor(root: str, batch: str | None, hours: float) -> Summary:
    """The monitoring summary of BATCH (a CSV), or of the inference log's last HOURS."""
    params, root_path = load_params(Path(root) / "params.yaml"), Path(root)
    if batch is not None:
        return monitor_batch(batch, params, root_path)
    return monitor_window(params, root_path, datetime.now(timezone.utc) - timedelta(hours=hours))


@flow(name="monitoring", log_prints=True)
def monitoring(root: str = ".", hours: float = 24, batch: str | None = None) -> dict:
    """Monitor the inference log's last HOURS (the daily deployment), or BATCH (a CSV path or fsspec URL)
    when given; publish the summary and the report links."""
    root_path = Path(root).resolve()
    options = load_params(root_path / "params.yaml").flows
    summary = monitor.with_options(retries=options.retries, retry_delay_seconds=options.retry_delay_seconds)(
        str(root_path), batch, hours
    )
    report = Path(summary.report).resolve()
    create_link_artifact(key="drift-report", link=report.as_uri(), link_text=f"Drift report: {summary.batch}")
    create_markdown_artifact(key="drift-summary", markdown=summary_markdown(summary))
    print(f"dataset drift: {summary.dataset_drift}; drifted columns: {summary.drifted_columns}; "
          f"alerts: {[a['rule'] for a in summary.alerts]}")
    purged = purge.with_options(retries=options.retries, retry_delay_seconds=options.retry_delay_seconds)(
        str(root_path))
    # the summary as summary.json holds it, with a log window's model versions and what retention purged
    return summary.model_dump(exclude_unset=True) | ({"purged": purged} if purged is not None else {})


@task(cache_policy=NO_CACHE)
def purge(root: str) -> dict | None:
    """The inference log's records older than serve.log_retention_days deleted (None: retention is not set)."""
    purged = retention.purge_expired(load_params(Path(root) / "params.yaml"), Path(root))
    if purged is not None:
        print(f"log retention: deleted {purged['predictions']} predictions and {purged['labels']} labels logged "
              f"before {purged['before']} (UTC)")
    return purged


@task(cache_policy=NO_CACHE)
def decide(root: str) -> RolloutDecision:
    """The rollout decision (release.decide): evidence written, the outcome applied, its event emitted."""
    return deciding.decide(load_params(Path(root) / "params.yaml"), Path(root))


@flow(name="rollout-decision", log_prints=True)
def rollout_decision(root: str = ".") -> RolloutDecision | None:
    """Judge the running rollout on the inference log since its start and publish the decision; without a
    rollout (the hourly deployment's usual case) there is nothing to decide, and the run says so."""
    root_path = Path(root).resolve()
    if Registry(root_path / load_params(root_path / "params.yaml").registry.dir).rollout is None:
        print("no rollout is running: nothing to decide")
        return None
    record = decide(str(root_path))
    create_markdown_artifact(key="rollout-decision", markdown=deciding.decision_markdown(record),
                             description=f"Rollout decision for version {record.version}: {record.outcome}")
    print(f"rollout of {record.version}: {record.outcome}; " + " ".join(record.reasons))
    return record
