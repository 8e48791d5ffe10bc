"""One end-to-end run on the full Adult data: dvc repro from a copy of the repository, then the CLI."""

import contextlib
import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from dvc.repo import Repo
from sklearn.metrics import roc_auc_score

from tests.helpers.project import REPO, cli, dvc

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory) -> Path:
    """The repository's tracked files (as a fresh clone has them), data restored with dvc pull."""
    root = tmp_path_factory.mktemp("e2e") / "driftline"
    def listed(*flags):
        return subprocess.run(["git", "ls-files", *flags], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.split()
    # New source files count; registry state left by a local `make run` does not (its models live in DVC).
    untracked = [name for name in listed("--others", "--exclude-standard") if not name.startswith("registry/")]
    for name in listed("--cached") + untracked:
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    dvc(root, "pull", "-q", "data.dvc")
    dvc(root, "repro", "-f")
    cli(root, "release")  # the first model faces the floors and the baseline, and becomes champion
    return root


def test_the_model_holds_its_own_against_the_baseline(repo_copy):
    metrics = json.loads(dvc(repo_copy, "metrics", "show", "--json").stdout)[""]["data"]
    evaluation = metrics["metrics/evaluate.json"]["data"]
    # One seed on one split: benchmarks/model.py compares the means over five seeds.
    assert evaluation["roc_auc"] >= evaluation["baseline_roc_auc"] - 0.003
    assert evaluation["accuracy"] >= evaluation["baseline_accuracy"] - 0.005


def test_forced_reruns_give_identical_outputs(repo_copy):
    """featurize and train rerun from scratch: the same hash for every output, the same metrics. (validate's
    byte-identical outputs: tests/unit/test_validate.py.)"""
    lock, metrics = (repo_copy / "dvc.lock").read_text(), dvc(repo_copy, "metrics", "show", "--json").stdout
    dvc(repo_copy, "repro", "-f", "-s", "featurize", "train")
    assert (repo_copy / "dvc.lock").read_text() == lock
    assert dvc(repo_copy, "metrics", "show", "--json").stdout == metrics
    assert dvc(repo_copy, "status", "--json").stdout.strip() == "{}"


def test_second_repro_runs_nothing_and_release_moves_nothing(repo_copy):
    with contextlib.chdir(repo_copy), Repo() as repo:  # DVC resolves targets against the working directory
        assert repo.reproduce() == []
        assert repo.status() == {}
    history = (repo_copy / "registry/history.jsonl").read_text()
    assert "already registered" in cli(repo_copy, "release").stderr
    assert (repo_copy / "registry/history.jsonl").read_text() == history


def test_predict_scores_unseen_rows(repo_copy, tmp_path):
    test = pd.read_parquet(repo_copy / "artifacts/featurize/test.parquet")
    test.drop(columns=["income"]).to_csv(tmp_path / "in.csv", index=False)
    cli(repo_copy, "predict", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.csv"))
    scored = pd.read_csv(tmp_path / "out.csv")
    assert roc_auc_score(test["income"] == ">50K", scored["probability"]) >= 0.90


def test_monitor_on_the_example_batch_and_its_shift(repo_copy, tmp_path):
    batch = pd.read_csv(repo_copy / "examples/batch.csv")
    batch.assign(age=batch["age"] + 10).to_csv(tmp_path / "shifted.csv", index=False)
    plain = json.loads(cli(repo_copy, "monitor", "examples/batch.csv", "--json").stdout)
    shifted = json.loads(cli(repo_copy, "monitor", str(tmp_path / "shifted.csv"), "--json").stdout)
    # rows held out of the same data set: age and the predictions stay put; shifted ages move both
    assert not {"age", "prediction"} & set(plain["drifted_columns"]), plain["scores"]
    assert shifted["scores"]["age"] > 5 * plain["scores"]["age"]
    assert shifted["dataset_drift"] and "age" in shifted["drifted_columns"]


def test_the_example_batch_ingests_as_new_rows_and_the_contract_still_holds(repo_copy, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(repo_copy, root, symlinks=True)
    done = cli(root, "ingest", "examples/batch.csv")
    assert "ingested 1000 new rows" in done.stderr and "dropped" not in done.stderr
    dvc(root, "repro", "validate")
    assert json.loads((root / "metrics/validate.json").read_text())["rows"] == 32561
    again = cli(root, "ingest", "examples/batch.csv", check=False)
    assert again.returncode == 1 and "already in data" in again.stderr
