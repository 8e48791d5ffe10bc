"""dvc.yaml stage `train`: fit the Lightning model."""

from pathlib import Path

import typer

from driftline.stages import train
from pipelines import run_stage


def main(splits: Path, out: Path, checkpoints: Path, metrics: Path, history: Path) -> None:
    run_stage("train", lambda params: train.run(params, splits, out, checkpoints, metrics, history))


if __name__ == "__main__":
    typer.run(main)
