"""A second data set, unlike Adult, through the whole pipeline from `driftline init` to ingesting a new batch.

The data is generated here (seeded): a category first, a 0/1 target, a True/False column, numeric
codes that are categories, two sensitive attributes (one binned) and a signal worth learning.
"""

import json

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml

from driftline.config import load_params
from tests.helpers.project import SMALL, cli, dvc, make_project, serving

pytestmark = pytest.mark.slow  # about 140 s on 2 shared cores: six stages, a release and two bento servers

OVERRIDES = {
    "train": SMALL["train"] | {"width": 32, "max_epochs": 3, "learning_rate": 0.01, "batch_size": 32},
    "audit": {"background_rows": 20, "explain_rows": 40, "min_group_size": 10},
    # Applied after `driftline init`, which writes the task's gate: three epochs on 560 rows.
    "gate": {"floors": [{"metric": "roc_auc", "min": 0.6}, {"metric": "calibration_error", "max": 0.2}],
             "max_parity_amplification": 1.0, "max_equalized_odds_difference": 1.0, "bootstrap_rounds": 20,
             "baseline": [{"metric": "roc_auc", "absolute": -0.5}],
             "infra": {"rows": 30, "startup_timeout_s": 120, "max_p99_ms": 5000}},
    "monitor": {"reference_rows": 500, "explain_rows": 50},
    "flows": SMALL["flows"],
}
FEATURES = ["region", "tenure", "plan", "autopay", "support_calls", "monthly_spend"]


def customers(rows: int, seed: int) -> pd.DataFrame:
    """Churn of a subscription's customers: short tenure, many support calls and plan 1 churn more."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "region": rng.choice(["north", "south", "east", "west"], rows),
        "tenure": rng.integers(0, 121, rows),
        "plan": rng.choice([1, 2, 3, 4], rows),
        "autopay": rng.random(rows) < 0.5,
        "support_calls": rng.poisson(2, rows).clip(0, 6),  # every batch spans the same range
        "monthly_spend": rng.uniform(10, 150, rows).round(2),
    })
    logit = (1.5 - 0.06 * frame["tenure"] + 0.9 * frame["support_calls"] - 1.5 * frame["autopay"]
             + 1.5 * (frame["plan"] == 1) + 0.8 * (frame["region"] == "south"))  # ROC AUC 0.91 for the true logit
    frame["churned"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    # Exactly 2% empty cells in every batch, so a new batch meets the missing share inferred from the first.
    frame["monthly_spend"] = frame["monthly_spend"].mask(rng.permutation(rows) < rows // 50)
    return frame


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project on 800 generated rows: schema from `driftline init`, every stage run, the model released."""
    root = make_project(tmp_path_factory.mktemp("second"), rows=0, overrides=OVERRIDES)
    (root / "data" / "adult.csv").unlink()
    customers(800, seed=1).to_csv(root / "data" / "customers.csv", index=False)
    dvc(root, "add", "-q", "data")
    inferred = cli(root, "init", "data/customers.csv", "--target", "churned", "--positive", "1", "--sensitive",
                   "region", "--sensitive", "tenure", "--category", "plan", "--force")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["gate"].update(OVERRIDES["gate"])
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc(root, "repro")
    released = cli(root, "release", check=False)
    return root, inferred, released


def test_init_infers_the_schema(project):
    root, inferred, _ = project
    schema = load_params(root / "params.yaml").schema
    assert list(schema.columns) == [*FEATURES, "churned"]
    assert {name: spec.type for name, spec in schema.columns.items()} == {
        "region": "category", "tenure": "integer", "plan": "category", "autopay": "category",
        "support_calls": "integer", "monthly_spend": "float", "churned": "category"}
    assert schema.columns["plan"].categories == ["1", "2", "3", "4"]
    assert schema.columns["autopay"].categories == ["False", "True"]
    assert schema.columns["churned"].categories == ["0", "1"] and schema.positive_label == "1"
    assert 0 < schema.columns["monthly_spend"].max_missing < 0.1
    assert schema.sensitive["region"].bins is None and len(schema.sensitive["tenure"].bins) == 6
    assert "tenure" in inferred.stdout


def test_every_stage_ran_and_the_model_was_released(project):
    root, _, released = project
    assert released.returncode == 0, released.stdout + released.stderr
    assert "promoted to champion" in released.stderr
    assert "card.intended_use" in released.stderr  # the release warns while init's placeholders stand
    registry = json.loads((root / "registry/registry.json").read_text())
    (entry,) = registry["versions"]
    card = (root / entry["card"]).read_text().lower()
    assert "<fill in" in card and "income" not in card and "census" not in card
    metrics = json.loads((root / "metrics" / "evaluate.json").read_text())
    assert metrics["roc_auc"] > 0.7, metrics


def test_predict_scores_a_file(project, tmp_path):
    root, _, _ = project
    customers(200, seed=2).drop(columns="churned").to_csv(tmp_path / "in.csv", index=False)
    cli(root, "predict", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.csv"))
    scored = pd.read_csv(tmp_path / "out.csv")
    assert len(scored) == 200 and set(scored["label"]) <= {0, 1}
    assert scored["probability"].between(0, 1).all()


def test_the_service_takes_codes_as_numbers_or_text(project):
    root, _, _ = project
    record = {"region": "north", "tenure": 3, "support_calls": 5, "monthly_spend": None}
    as_json = record | {"plan": 1, "autopay": False}
    as_text = record | {"plan": "1", "autopay": "False"}
    with serving(root) as url:
        answer = httpx.post(f"{url}/predict", json={"records": [as_json, as_text]}, timeout=30)
    assert answer.status_code == 200, answer.text
    first, second = answer.json()
    assert first["probability"] == second["probability"] and first["label"] in ("0", "1")


def test_monitor_a_labelled_batch(project, tmp_path):
    root, _, _ = project
    customers(300, seed=3).to_csv(tmp_path / "batch.csv", index=False)
    summary = json.loads(cli(root, "monitor", str(tmp_path / "batch.csv"), "--json").stdout)
    assert set(FEATURES) <= set(summary["scores"])
    assert summary["performance"]["realised"]["roc_auc"] > 0.6, summary["performance"]


def test_ingest_a_new_batch(project, tmp_path):
    root, _, _ = project
    customers(300, seed=4).to_csv(tmp_path / "new.csv", index=False)
    done = cli(root, "ingest", str(tmp_path / "new.csv"))
    assert "ingested 300 new rows" in done.stderr
    assert len(list((root / "data" / "batches").glob("*-new.csv"))) == 1
