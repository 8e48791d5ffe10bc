"""dvc.yaml stage `featurize`: split the data and fit the transform on train."""

from pathlib import Path

import typer

from driftline.stages import featurize
from pipelines import run_stage


def main(out: Path, metrics: Path) -> None:
    run_stage("featurize", lambda params: featurize.run(params, out, metrics))


if __name__ == "__main__":
    typer.run(main)
