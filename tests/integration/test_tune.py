"""driftline tune on the small project: a killed search resumes, and its best trial is a valid params change."""

import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import yaml

from driftline.config import load_params, with_values
from driftline.core.artifacts import dvc_env
from driftline.orchestration.tune import study_name
from tests.helpers.project import cli


def finished_trials(root: Path) -> list:
    study = optuna.load_study(study_name=study_name(root / "artifacts/featurize"),
                              storage=f"sqlite:///{root / 'tune/study.db'}")
    return study.get_trials(states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED))


def test_tune_resumes_after_a_kill_and_feeds_dvc_exp(trained, tmp_path):
    root = tmp_path / "project"
    shutil.copytree(trained, root)
    raw = yaml.safe_load((root / "params.yaml").read_text())
    raw["train"] |= {"max_epochs": 2, "patience": 2, "max_rows": 1000, "val_rows": 500}  # two short epochs a trial
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    # killed as the second trial's first epoch starts: the first trial's two epochs are done and recorded
    killed = subprocess.run([str(Path(sys.executable).parent / "driftline"), "tune", "--trials", "3"], cwd=root,
                            env=dvc_env() | {"DRIFTLINE_FAILPOINT": "train.epoch:3"}, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    before = finished_trials(root)
    assert len(before) == 1

    done = cli(root, "tune", "--trials", "3")
    after = finished_trials(root)
    assert len(after) == 3
    assert [t.params for t in after[: len(before)]] == [t.params for t in before]  # kept, not redrawn
    assert len({tuple(sorted(t.params.items())) for t in after}) == 3

    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith("dvc exp run -S train.")
    point = dict(arg.split("=", 1) for arg in shlex.split(line)[3:] if arg != "-S")
    best = with_values(load_params(root / "params.yaml"), {k: yaml.safe_load(v) for k, v in point.items()})
    fragment = yaml.safe_load((root / "tune/best.yaml").read_text())["train"]
    assert best.train.learning_rate == fragment["learning_rate"]
    assert best.train.embedding.d_embedding == fragment["embedding"]["d_embedding"]
    assert (root / "tune/importance.png").stat().st_size > 1000


def test_tune_searches_the_boosters_in_a_study_of_their_own(trained, tmp_path):
    from driftline.config import Params
    from driftline.stages.boost import run as fit_boosters

    root = tmp_path / "project"
    shutil.copytree(trained, root)
    done = cli(root, "tune", "--member", "boost", "--trials", "4")
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith("dvc exp run -S boost.defaults=td -S boost.")
    study = optuna.load_study(study_name=study_name(root / "artifacts/featurize", "boost"),
                              storage=f"sqlite:///{root / 'tune/study.db'}")
    assert len(study.trials) == 4 and not (root / "tune/best.yaml").exists()  # the network's study is untouched
    fragment = yaml.safe_load((root / "tune/best-boost.yaml").read_text())["boost"]
    point = dict(arg.split("=", 1) for arg in shlex.split(line)[3:] if arg != "-S")
    best: Params = with_values(load_params(root / "params.yaml"), {k: yaml.safe_load(v) for k, v in point.items()})
    assert best.boost.num_leaves == fragment["num_leaves"] and best.boost.defaults == "td"
    # the study's best value is what the boost stage measures with the best trial's params (validation only)
    metrics = fit_boosters(best, root / "artifacts/featurize", tmp_path / "boost", tmp_path / "boost.json")
    assert metrics["best_val_binary_logloss"] == study.best_value
