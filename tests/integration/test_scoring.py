"""Batch scoring, the HTTP service and monitoring on the small trained project."""

import json

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from tests.helpers.project import cli


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


@pytest.fixture(scope="module")
def client(app_client):
    return app_client


@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        (b"not json", 400, "json_invalid"),
        (b"", 400, "records"),
        ({"records": []}, 400, "records"),
        ({"records": [{"age": 30}]}, 400, "workclass"),
        ("wrong type", 400, "age"),
        ("fraction in an integer", 400, "age"),
        ("unknown field", 400, "favourite_colour"),
        ("too many records", 413, "at most 1000"),
    ],
)
def test_bad_requests_get_4xx_naming_the_problem(client, held_out, body, status, named):
    good = records(held_out.drop(columns=["income"]).head(1))[0]
    if isinstance(body, str):
        body = {
            "wrong type": {"records": [good | {"age": "forty"}]},
            "fraction in an integer": {"records": [good | {"age": 39.5}]},
            "unknown field": {"records": [good | {"favourite_colour": "red"}]},
            "too many records": {"records": [good] * 1001},
        }[body]
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = client.post("/predict", content=content, headers={"content-type": "application/json"})
    assert answer.status_code == status
    assert named in answer.text
    assert client.get("/healthz").status_code == 200


def test_nulls_and_missing_markers_mean_missing_on_every_path(client, trained, held_out, tmp_path):
    rows = held_out.drop(columns=["income"]).head(3).assign(workclass=["?", None, "Private"], age=[None, 30, 40])
    served = client.post("/predict", json={"records": records(rows.replace({None: None}))}).json()
    rows.to_csv(tmp_path / "in.csv", index=False)
    cli(trained, "predict", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.csv"))
    scored = pd.read_csv(tmp_path / "out.csv")
    np.testing.assert_allclose([r["probability"] for r in served], scored["probability"], atol=1e-6)
    assert served[0]["probability"] == pytest.approx(
        client.post("/predict", json={"records": records(rows.head(1).assign(workclass=None))}).json()[0]["probability"]
    )


def test_predict_refuses_to_overwrite_input_columns(trained, held_out, tmp_path):
    held_out.head(5).assign(probability=0.5).to_csv(tmp_path / "in.csv", index=False)
    done = cli(trained, "predict", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.csv"), check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "already has column(s) ['probability']" in done.stderr
    assert not (tmp_path / "out.csv").exists()


def test_predict_reports_an_unwritable_output(trained, held_out, tmp_path):
    held_out.head(5).to_csv(tmp_path / "in.csv", index=False)
    done = cli(trained, "predict", str(tmp_path / "in.csv"), "-o", str(tmp_path / "in.csv/out.csv"), check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "predict" in done.stderr and "failed" in done.stderr


def test_monitor_flags_shifted_ages_only(trained, held_out, tmp_path):
    sample = held_out.head(1000)
    sample.to_csv(tmp_path / "sample.csv", index=False)
    sample.assign(age=sample["age"] + 10).to_csv(tmp_path / "shifted.csv", index=False)
    plain = json.loads(cli(trained, "monitor", str(tmp_path / "sample.csv"), "--json").stdout)
    shifted = json.loads(cli(trained, "monitor", str(tmp_path / "shifted.csv"), "--json").stdout)
    assert "age" not in plain["drifted_columns"], json.dumps(plain["scores"])
    assert shifted["scores"]["age"] > 5 * plain["scores"]["age"]
    assert shifted["dataset_drift"] is True and "age" in shifted["drifted_columns"]
    # only age, and the predictions it moves, newly drift: the other columns are the same rows
    assert set(shifted["drifted_columns"]) - set(plain["drifted_columns"]) <= {"age", "prediction"}
    assert (trained / shifted["report"]).is_file()
    assert (trained / shifted["report"]).with_name("summary.json").is_file()


def test_explain_attributions_add_up_to_the_logit_and_match_the_cli(client, trained, held_out, tmp_path):
    from driftline.core.explain import ADDITIVITY_TOLERANCE

    rows = held_out.drop(columns=["income"]).head(8)
    body = records(rows)
    body[0]["id"] = "mine"
    explained = client.post("/explain", json={"records": body})
    assert explained.status_code == 200, explained.text
    answers = explained.json()
    predicted = client.post("/predict", json={"records": body}).json()
    assert answers[0]["id"] == "mine" and predicted[0]["id"] == "mine" and len(answers[1]["id"]) == 32
    for answer, prediction in zip(answers, predicted):
        assert set(answer["attributions"]) == set(rows.columns)
        assert abs(sum(answer["attributions"].values()) + answer["base_value"] - answer["logit"]) < ADDITIVITY_TOLERANCE
        assert answer["probability"] == pytest.approx(prediction["probability"], abs=1e-6)
    rows.to_csv(tmp_path / "in.csv", index=False)
    cli(trained, "explain", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.csv"))
    table = pd.read_csv(tmp_path / "out.csv")
    np.testing.assert_allclose(table["shap_age"], [a["attributions"]["age"] for a in answers], atol=1e-6)
    np.testing.assert_allclose(table["logit"], [a["logit"] for a in answers], atol=1e-6)
