"""dvc.yaml stage `evaluate`: the members blended on validation; test metrics of the blend, each member and the
baseline."""

from pathlib import Path

import typer

from driftline.stages import evaluate
from pipelines import run_stage


def main(splits: Path, model: Path, trees: Path, decision: Path, scores: Path, metrics: Path, plots: Path) -> None:
    run_stage("evaluate", lambda params: evaluate.run(params, splits, model, trees, decision, scores, metrics, plots))


if __name__ == "__main__":
    typer.run(main)
