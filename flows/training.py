"""Prefect flow `training`: the dvc.yaml stages as one task each, in DVC's order, then the release."""

from __future__ import annotations

from pathlib import Path

from dvc.repo import Repo
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from driftline import pipeline
from driftline.config import load_params
from driftline.registry import release as releasing


@task(cache_policy=NO_CACHE)  # DVC is the cache: it skips stages whose inputs did not change
def reproduce(repo: Repo, stage: str) -> pipeline.StageRun:
    """Reproduce one stage through DVC (skipped when up to date)."""
    print(f"{stage}: started", flush=True)
    result = pipeline.reproduce(repo, stage)
    print(f"{stage}: {result.status} in {result.seconds:.1f} s {result.key_figure}", flush=True)
    return result


@task(cache_policy=NO_CACHE)
def release(root: str) -> dict:
    """Register the packaged model, gate it, check its bento serves, and promote it if blessed."""
    print("release: started", flush=True)
    result = releasing.release(load_params(Path(root) / "params.yaml"), Path(root))
    print(f"release: version {result['version']} blessed={result['blessed']} promoted={result['promoted']}",
          flush=True)
    return result


@flow(name="training")  # prints go to stdout as they happen: `driftline run` shows each stage live
def training(root: str = ".") -> dict:
    """Run every dvc.yaml stage in order, then the release; publish the metrics and the gate as artifacts."""
    root_path = Path(root).resolve()
    options = load_params(root_path / "params.yaml").flows
    retrying = {"retries": options.retries, "retry_delay_seconds": options.retry_delay_seconds}
    runs = []
    with Repo(str(root_path)) as repo:
        for stage in pipeline.stage_order(repo):
            runs.append(reproduce.with_options(name=stage, **retrying)(repo, stage))
        create_markdown_artifact(key="training-metrics", markdown=pipeline.metrics_markdown(repo, runs),
                                 description="Stages and metrics of this training run")
    result = release(str(root_path))
    create_table_artifact(key="gate", table=result["blessing"]["checks"],
                          description=f"Gate of version {result['version']}: blessed={result['blessed']}, "
                                      f"promoted={result['promoted']}")
    return {"stages": runs, "release": result}
