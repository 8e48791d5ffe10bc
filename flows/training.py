"""Prefect flow `training`: the dvc.yaml stages as one task each, in DVC's order, with retries."""

from __future__ import annotations

from pathlib import Path

from dvc.repo import Repo
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from driftline import pipeline
from driftline.config import load_params


@task(cache_policy=NO_CACHE)  # DVC is the cache: it skips stages whose inputs did not change
def reproduce(repo: Repo, stage: str) -> pipeline.StageRun:
    """Reproduce one stage through DVC (skipped when up to date)."""
    result = pipeline.reproduce(repo, stage)
    get_run_logger().info("%s %s in %.1f s %s", stage, result.status, result.seconds, result.key_figure)
    return result


@flow(name="training", log_prints=True)
def training(root: str = ".") -> list[pipeline.StageRun]:
    """Run every dvc.yaml stage in order and publish the metrics as a markdown artifact."""
    root_path = Path(root).resolve()
    options = load_params(root_path / "params.yaml").flows
    runs = []
    with Repo(str(root_path)) as repo:
        for stage in pipeline.stage_order(repo):
            stage_task = reproduce.with_options(
                name=stage, retries=options.retries, retry_delay_seconds=options.retry_delay_seconds
            )
            runs.append(stage_task(repo, stage))
        create_markdown_artifact(key="training-metrics", markdown=pipeline.metrics_markdown(repo, runs),
                                 description="Stages and metrics of this training run")
    return runs
