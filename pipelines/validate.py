"""dvc.yaml stage `validate`: the data contract over all training data."""

from pathlib import Path

import typer

from driftline.stages import validate
from pipelines import run_stage


def main(result: Path, bias: Path, docs: Path, metrics: Path) -> None:
    run_stage("validate", lambda params: validate.run(params, result, bias, docs, metrics))


if __name__ == "__main__":
    typer.run(main)
