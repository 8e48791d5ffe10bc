"""dvc.yaml stage `package`: the model in the BentoML store and a bento built around it."""

from pathlib import Path

import typer

from driftline.stages import package
from pipelines import run_stage


def main(splits: Path, model: Path, trees: Path, decision: Path, audit: Path, out: Path) -> None:
    run_stage("package", lambda params: package.run(params, splits, model, trees, decision, audit, out))


if __name__ == "__main__":
    typer.run(main)
