"""Batch scoring, the HTTP service and monitoring on the small trained project."""

import json

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from tests.conftest import cli


@pytest.fixture(scope="module")
def scored(trained, held_out, tmp_path_factory):
    folder = tmp_path_factory.mktemp("scored")
    held_out.drop(columns=["income"]).to_csv(folder / "in.csv", index=False)
    cli(trained, "predict", str(folder / "in.csv"), "-o", str(folder / "out.csv"))
    return pd.read_csv(folder / "out.csv", keep_default_na=False)


def test_predict_adds_probability_and_label(scored, held_out):
    assert list(scored.columns[-2:]) == ["probability", "label"]
    assert len(scored) == len(held_out)
    assert set(scored["label"]) <= {">50K", "<=50K"}
    assert roc_auc_score(held_out["income"] == ">50K", scored["probability"]) > 0.85


def records(frame):
    return json.loads(frame.replace({"?": None}).to_json(orient="records"))


def test_service_matches_batch_scoring(server, held_out, scored):
    rows = held_out.drop(columns=["income"]).head(50)
    answer = httpx.post(f"{server}/predict", json={"records": records(rows)}, timeout=30)
    assert answer.status_code == 200
    served = pd.DataFrame(answer.json())
    np.testing.assert_allclose(served["probability"], scored["probability"].head(50), atol=1e-6)
    assert served["label"].tolist() == scored["label"].head(50).tolist()


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"not json", "json_invalid"),
        (b"", "records"),
        ({"records": []}, "records"),
        ({"records": [{"age": 30}]}, "workclass"),
        ("wrong type", "age"),
        ("unknown field", "favourite_colour"),
    ],
)
def test_bad_requests_get_4xx_naming_the_problem(server, held_out, body, named):
    good = records(held_out.drop(columns=["income"]).head(1))[0]
    if body == "wrong type":
        body = {"records": [good | {"age": "forty"}]}
    elif body == "unknown field":
        body = {"records": [good | {"favourite_colour": "red"}]}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = httpx.post(f"{server}/predict", content=content, headers={"content-type": "application/json"})
    assert 400 <= answer.status_code < 500
    assert named in answer.text
    assert httpx.get(f"{server}/healthz").status_code == 200


def test_health_and_nulls_are_accepted(server, held_out):
    record = records(held_out.drop(columns=["income"]).head(1))[0] | {"workclass": None, "age": None}
    answer = httpx.post(f"{server}/predict", json={"records": [record]})
    assert answer.status_code == 200 and 0 <= answer.json()[0]["probability"] <= 1


def test_monitor_flags_shifted_ages_only(trained, held_out, tmp_path):
    sample = held_out.head(1000)
    sample.to_csv(tmp_path / "sample.csv", index=False)
    sample.assign(age=sample["age"] + 10).to_csv(tmp_path / "shifted.csv", index=False)
    plain = json.loads(cli(trained, "monitor", str(tmp_path / "sample.csv"), "--json").stdout)
    shifted = json.loads(cli(trained, "monitor", str(tmp_path / "shifted.csv"), "--json").stdout)
    assert plain["dataset_drift"] is False and plain["drifted_columns"] == [], json.dumps(plain["scores"])
    assert shifted["dataset_drift"] is True and "age" in shifted["drifted_columns"]
    assert (trained / shifted["report"]).is_file()
    assert (trained / shifted["report"]).with_name("summary.json").is_file()
