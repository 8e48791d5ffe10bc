"""Regression and multiclass as a new user plays them, on tables the project does not ship: `driftline init`,
`dvc add data`, `dvc repro`, `driftline release` with init's own gate, then serve with a log, late labels,
and `driftline monitor --since` reporting realised and estimated performance and drift.

(A binary table plays the same path in tests/integration/test_second_dataset.py.)
"""

import json

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml

from driftline.core.data import records
from tests.helpers.project import SMALL, cli, dvc, make_project, serving
from tests.helpers.tables import multiclass_table, regression_table

pytestmark = pytest.mark.slow  # per task: six stages, a release with its bento check, a served bento

TASKS = {
    "regression": (regression_table, "spend", ["prediction", "interval"]),
    "multiclass": (multiclass_table, "segment", ["label", "probabilities"]),
}
SENT, BATCH = 600, 100
TRAIN = SMALL["train"] | {"max_epochs": 8, "patience": 3, "cv_below_rows": 5000}  # 2,800 training rows: folds


@pytest.fixture(scope="module", params=sorted(TASKS))
def released(request, tmp_path_factory):
    """A project whose data is a generated table of the task, set up by init and released by its gate."""
    kind = request.param
    table, target, _ = TASKS[kind]
    root = make_project(tmp_path_factory.mktemp(kind), rows=0, overrides={"train": TRAIN, "audit": SMALL["audit"]})
    (root / "data" / "adult.csv").unlink()
    table(4000, seed=1).to_csv(root / "data" / "table.csv", index=False)
    inferred = cli(root, "init", "data/table.csv", "--target", target, "--sensitive", "group", "--force")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["gate"]["infra"] |= {"rows": 30, "max_p99_ms": 5000}  # a shared CI machine, not a latency benchmark
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc(root, "add", "-q", "data")
    dvc(root, "repro")
    release = cli(root, "release", check=False)
    return kind, root, inferred, release


def test_init_declares_the_task_and_the_release_blesses_the_model(released):
    kind, root, inferred, release = released
    params = yaml.safe_load((root / "params.yaml").read_text())
    assert params["schema"]["task"] == kind and kind in inferred.stdout
    assert params["schema"]["positive_label"] is None
    assert release.returncode == 0, release.stdout + release.stderr
    assert "promoted to champion" in release.stderr
    metrics = json.loads((root / "metrics/evaluate.json").read_text())
    primary = "rmse" if kind == "regression" else "log_loss"
    assert metrics[primary] < metrics[f"dummy_{primary}"], metrics  # learnt something the prior does not know
    if kind == "regression":
        assert 0.8 <= metrics["coverage"] <= 0.97, metrics  # a 90% interval, on 600 test rows
    else:
        assert metrics["accuracy"] > metrics["dummy_accuracy"] + 0.1, metrics


def test_serve_log_labels_and_monitor_the_window(released, tmp_path, monkeypatch):
    kind, root, _, _ = released
    table, target, keys = TASKS[kind]
    unseen = table(SENT, seed=7)
    url = f"sqlite:///{tmp_path / 'inference.db'}"
    with serving(root, {"DRIFTLINE_LOG_URL": url}) as server, httpx.Client(timeout=60) as client:
        for start in range(0, SENT, BATCH):
            chunk = records(unseen.drop(columns=[target]).iloc[start:start + BATCH])
            for n, row in enumerate(chunk):
                row["id"] = f"r-{start + n}"
            answer = client.post(f"{server}/predict", json={"records": chunk})
            assert answer.status_code == 200, answer.text
            first = answer.json()[0]
            assert set(first) == {"id", *keys}
    if kind == "regression":
        low, high = first["interval"]
        assert low < first["prediction"] < high
    else:
        assert first["label"] == max(first["probabilities"], key=first["probabilities"].get)
        assert sum(first["probabilities"].values()) == pytest.approx(1)
    unseen.assign(id=[f"r-{n}" for n in range(SENT)])[["id", target]].iloc[::2].to_csv(tmp_path / "labels.csv",
                                                                                        index=False)
    monkeypatch.setenv("DRIFTLINE_LOG_URL", url)
    joined = cli(root, "labels", str(tmp_path / "labels.csv"))
    assert f"{SENT // 2} new" in joined.stderr

    summary = json.loads(cli(root, "monitor", "--since", "1h", "--json").stdout)
    assert summary["rows"] == SENT and summary["task"] == kind
    performance = summary["performance"]
    assert performance["labelled_rows"] == SENT // 2
    realised, estimated = performance["realised"], performance["estimated"]
    if kind == "regression":
        assert performance["method"] == "DLE"
        assert estimated["mae"] == pytest.approx(realised["mae"], rel=0.25), performance
        assert 0.75 <= realised["coverage"] <= 1
    else:
        assert performance["method"] == "CBPE"
        assert estimated["accuracy"] == pytest.approx(realised["accuracy"], abs=0.08), performance
    assert "prediction" in summary["scores"] and not np.isnan(summary["scores"]["prediction"])
    assert set(summary["fairness"]) == {"group"}


def test_predict_writes_the_tasks_columns(released, tmp_path):
    kind, root, _, _ = released
    table, target, _ = TASKS[kind]
    table(50, seed=9).drop(columns=[target]).to_csv(tmp_path / "in.csv", index=False)
    cli(root, "predict", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.csv"))
    scored = pd.read_csv(tmp_path / "out.csv")
    if kind == "regression":
        assert (scored["lower"] <= scored["prediction"]).all() and (scored["prediction"] <= scored["upper"]).all()
    else:
        classes = yaml.safe_load((root / "params.yaml").read_text())["schema"]["columns"][target]["categories"]
        assert set(scored["label"]) <= set(classes)
        assert np.allclose(scored[[f"probability_{c}" for c in classes]].sum(axis=1), 1)
