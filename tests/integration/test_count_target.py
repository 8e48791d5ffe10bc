"""A count target through the whole pipeline, as a new user runs it: `driftline init` declares the count, `dvc repro`
learns it under the Poisson link in both members, `driftline release` gates and registers it with init's own gate,
the service answers counts with their intervals and explanations, and `driftline monitor` scores a labelled
batch."""

import json

import httpx
import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import yaml

from driftline.config import load_params
from tests.helpers.project import SMALL, cli, dvc, make_project, serving
from tests.helpers.tables import count_table

pytestmark = pytest.mark.slow  # about 150 s on 2 shared cores: seven stages, a release and two bento servers

OVERRIDES = {
    "train": SMALL["train"],
    "boost": SMALL["boost"],
    "audit": {"background_rows": 20, "explain_rows": 40, "min_group_size": 20},
    "monitor": {"reference_rows": 500, "explain_rows": 50},
    "flows": SMALL["flows"],
}
GATE = {"bootstrap_rounds": 200, "infra": {"rows": 30, "startup_timeout_s": 120, "max_p99_ms": 5000}}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project on 4,000 generated rows of claims: the schema and the gate from `driftline init`, every stage run,
    the model released."""
    root = make_project(tmp_path_factory.mktemp("count"), rows=0, overrides=OVERRIDES)
    (root / "data" / "adult.csv").unlink()
    count_table(4000, seed=1).to_csv(root / "data" / "claims.csv", index=False)
    dvc(root, "add", "-q", "data")
    inferred = cli(root, "init", "data/claims.csv", "--target", "claims", "--sensitive", "group", "--force")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["gate"] |= GATE  # smaller, not laxer: init's baseline, dummy and champion checks stand
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc(root, "repro")
    released = cli(root, "release", check=False)
    return root, inferred, released


def records(rows: int, seed: int) -> list[dict]:
    frame = count_table(rows, seed).drop(columns="claims")
    return json.loads(frame.to_json(orient="records"))


def test_init_declares_a_count(project):
    root, inferred, _ = project
    schema = load_params(root / "params.yaml").schema
    assert (schema.task, schema.target_kind) == ("regression", "count")
    assert schema.columns["claims"].type == "integer" and schema.columns["claims"].min == 0
    assert "task: regression of a count" in inferred.stderr  # the table goes to stdout, the summary to stderr


def test_both_members_learn_under_the_poisson_link_and_the_release_says_so(project):
    root, _, released = project
    transform = json.loads((root / "artifacts/featurize/transform.json").read_text())
    featurized = json.loads((root / "metrics/featurize.json").read_text())
    assert transform["target"]["link"] == "poisson"
    assert featurized["val_rmse_poisson"] == min(v for k, v in featurized.items() if k.startswith("val_rmse_"))
    trees = json.loads((root / "artifacts/boost/trees.json").read_text())["boosters"]
    assert all(lgb.Booster(model_str=text).dump_model()["objective"].startswith("poisson") for text in trees)
    assert released.returncode == 0, released.stdout + released.stderr
    assert "promoted to champion" in released.stderr
    (entry,) = json.loads((root / "registry/registry.json").read_text())["versions"]
    card = (root / entry["card"]).read_text()
    assert "- Target: poisson (a log link and the Poisson loss), in both members, chosen on validation RMSE" in card
    metrics = json.loads((root / "metrics/evaluate.json").read_text())
    assert metrics["rmse"] < metrics["dummy_rmse"] and metrics["coverage"] > 0.8, metrics


def test_the_service_answers_counts_with_intervals_and_explains_their_log(project):
    root, _, _ = project
    sent = records(5, seed=2)
    with serving(root) as url:
        answered = httpx.post(f"{url}/predict", json={"records": sent}, timeout=30)
        explained = httpx.post(f"{url}/explain", json={"records": sent}, timeout=60)
    assert answered.status_code == 200, answered.text
    assert explained.status_code == 200, explained.text
    for answer, explanation in zip(answered.json(), explained.json()):
        low, high = answer["interval"]
        assert 0 <= low <= answer["prediction"] <= high
        assert explanation["link"] == "poisson"
        assert explanation["output"] == pytest.approx(np.log(answer["prediction"]), abs=1e-6)
        total = sum(explanation["attributions"].values()) + explanation["base_value"]
        assert total == pytest.approx(explanation["output"], abs=1e-3)


def test_monitor_a_labelled_batch(project, tmp_path):
    root, _, _ = project
    count_table(400, seed=3).to_csv(tmp_path / "batch.csv", index=False)
    summary = json.loads(cli(root, "monitor", str(tmp_path / "batch.csv"), "--json").stdout)
    realised = summary["performance"]["realised"]
    assert realised["rmse"] > 0 and 0.7 < realised["coverage"] <= 1, summary["performance"]
    claims = pd.read_csv(tmp_path / "batch.csv")["claims"]
    assert realised["mae"] < np.abs(claims - claims.mean()).mean()  # better than the batch's own mean
