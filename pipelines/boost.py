"""dvc.yaml stage `boost`: fit the gradient-boosting member."""

from pathlib import Path

import typer

from driftline.stages import boost
from pipelines import run_stage


def main(splits: Path, out: Path, metrics: Path) -> None:
    run_stage("boost", lambda params: boost.run(params, splits, out, metrics))


if __name__ == "__main__":
    typer.run(main)
