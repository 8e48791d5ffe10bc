"""driftline tune on the small project: a killed search resumes, and its best trial is a valid params change."""

import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
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


def any_finished(db: Path) -> bool:
    """Read-only peek while the search writes (Optuna itself would try to create the schema too)."""
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            return con.execute("SELECT count(*) FROM trials WHERE state IN ('COMPLETE', 'PRUNED')").fetchone()[0] > 0
    except sqlite3.Error:  # not created yet
        return False


def test_tune_resumes_after_a_kill_and_feeds_dvc_exp(trained, tmp_path):
    root = tmp_path / "project"
    shutil.copytree(trained, root)
    command = [str(Path(sys.executable).parent / "driftline"), "tune", "--trials", "3"]
    first = subprocess.Popen(command, cwd=root, env=dvc_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    deadline = time.monotonic() + 300
    while first.poll() is None and time.monotonic() < deadline and not any_finished(root / "tune/study.db"):
        time.sleep(0.5)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    before = finished_trials(root)
    assert 1 <= len(before) < 3

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
