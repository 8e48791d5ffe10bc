"""dvc.yaml stage `audit`: SHAP attributions and group fairness."""

from pathlib import Path

import typer

from driftline.stages import audit
from pipelines import run_stage


def main(splits: Path, model: Path, trees: Path, decision: Path, out: Path, metrics: Path) -> None:
    run_stage("audit", lambda params: audit.run(params, splits, model, trees, decision, out, metrics))


if __name__ == "__main__":
    typer.run(main)
