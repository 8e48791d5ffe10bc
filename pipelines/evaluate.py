"""dvc.yaml stage `evaluate`: test metrics of the model and of the baseline."""

from pathlib import Path

import typer

from driftline.stages import evaluate
from pipelines import run_stage


def main(splits: Path, model: Path, decision: Path, scores: Path, metrics: Path, plots: Path) -> None:
    run_stage("evaluate", lambda params: evaluate.run(params, splits, model, decision, scores, metrics, plots))


if __name__ == "__main__":
    typer.run(main)
