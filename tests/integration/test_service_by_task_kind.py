"""The service in-process (BentoML's own app) on a tiny model of each task: its answers, its request model,
its inference log."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftline.core.data import records
from driftline.core.predictor import Predictor
from driftline.serving.log import read_window
from tests.helpers import tiny_models
from tests.helpers.service import drain, service_client

KINDS = ["binary", "multiclass", "regression"]


@pytest.fixture(scope="module", params=KINDS)
def served(request, tmp_path_factory):
    """(kind, test client, predictor of the same model, log URL) for a tiny model of each task."""
    kind = request.param
    model = tiny_models.package(kind)
    url = f"sqlite:///{tmp_path_factory.mktemp(f'log-{kind}') / 'inference.db'}"
    with service_client(kind, {"DRIFTLINE_MODEL_TAG": str(model.tag), "DRIFTLINE_LOG_URL": url}) as client:
        yield kind, client, Predictor.load(model.path), url


def features(predictor: Predictor, rows: int = 12) -> pd.DataFrame:
    return tiny_models.table(predictor.task.kind, rows=rows, seed=2)[predictor.schema.features]


def test_answers_take_the_tasks_shape_and_equal_offline_scoring(served):
    kind, client, predictor, _ = served
    rows = features(predictor)
    body = records(rows)
    body[0]["id"] = "mine"
    answer = client.post("/predict", json={"records": body})
    assert answer.status_code == 200, answer.text
    answers, expected = answer.json(), predictor.predict(rows)
    assert answers[0]["id"] == "mine" and len(answers[1]["id"]) == 32
    keys = {"binary": ["id", "probability", "label"], "multiclass": ["id", "label", "probabilities"],
            "regression": ["id", "prediction", "interval"]}[kind]
    assert all(list(a) == keys for a in answers)
    if kind == "binary":
        np.testing.assert_allclose([a["probability"] for a in answers], expected["probability"], rtol=1e-6)
        assert [a["label"] for a in answers] == expected["label"].tolist()
    elif kind == "multiclass":
        classes = predictor.schema.classes
        assert all(list(a["probabilities"]) == classes for a in answers)
        spread = np.array([list(a["probabilities"].values()) for a in answers])
        np.testing.assert_allclose(spread, expected[predictor.task.probability_columns], rtol=1e-6)
        np.testing.assert_allclose(spread.sum(axis=1), 1)
        assert [a["label"] for a in answers] == [classes[i] for i in spread.argmax(axis=1)]
    else:
        np.testing.assert_allclose([a["prediction"] for a in answers], expected["prediction"], rtol=1e-6)
        np.testing.assert_allclose([a["interval"] for a in answers], expected[["lower", "upper"]], rtol=1e-6)
        assert all(lower < a["prediction"] < upper for a in answers for lower, upper in [a["interval"]])


def test_the_openapi_document_names_the_tasks_answer(served):
    from driftline.serving.answers import ANSWER_FIELDS, EXPLANATION_FIELDS

    kind, client, predictor, _ = served
    schemas = client.get("/docs.json").json()["components"]["schemas"]
    assert list(schemas["Prediction"]["properties"]) == ["id", *ANSWER_FIELDS[kind]]
    assert list(schemas["Explanation"]["properties"]) == ["id", *EXPLANATION_FIELDS[kind], "base_value", "attributions"]
    target = {t["type"] for t in schemas["Record"]["properties"][predictor.schema.target]["anyOf"]}
    category = {"string", "boolean", "integer", "number", "null"}  # service.FIELD_TYPES
    assert target == ({"number", "null"} if kind == "regression" else category)


def test_the_request_takes_an_optional_target_of_its_declared_type(served):
    kind, client, predictor, _ = served
    record = records(features(predictor, rows=1))[0]
    target = predictor.schema.target
    fits, wrong = {"binary": ("yes", [1]), "multiclass": ("gold", {"a": 1}), "regression": (12.5, "lots")}[kind]
    assert client.post("/predict", json={"records": [record | {target: fits}]}).status_code == 200
    refused = client.post("/predict", json={"records": [record | {target: wrong}]})
    assert refused.status_code == 400 and target in refused.text


def test_every_answer_is_logged_and_reads_back_as_predict_names_it(served):
    kind, client, predictor, url = served
    rows = features(predictor, rows=30)
    answers = client.post("/predict", json={"records": records(rows)}).json()
    drain(client)
    window = read_window(url, predictor.schema).set_index("record_id").loc[[a["id"] for a in answers]]
    expected = predictor.predict(rows)
    for name in predictor.task.output_columns:
        if name == "label":
            assert window[name].tolist() == expected[name].tolist()
        else:
            np.testing.assert_allclose(window[name].astype(float), expected[name], rtol=1e-6)
    assert window[predictor.schema.target].isna().all()


def test_explanations_add_up_to_the_answers_logit_or_prediction(served):
    from driftline.core.explain import ADDITIVITY_TOLERANCE

    kind, client, predictor, _ = served
    rows = features(predictor, rows=4)
    explained = client.post("/explain", json={"records": records(rows)})
    assert explained.status_code == 200, explained.text
    answers, expected = explained.json(), predictor.predict(rows)
    raw = predictor.blend.raw(predictor.typed({c: rows[c].tolist() for c in rows}))
    if kind != "regression":  # a classifier's explanation adds up to the answer's own logit: over the temperature
        raw = raw / predictor.task.temperature(predictor.decision)
    else:  # a regression's to the prediction through its link (the log link here: log(prediction))
        raw = predictor.transform.target.linked(raw)
    output = {"binary": "logit", "multiclass": "logit", "regression": "output"}[kind]
    for n, answer in enumerate(answers):
        assert list(answer)[-2:] == ["base_value", "attributions"] and list(answer["attributions"]) == list(rows)
        assert abs(sum(answer["attributions"].values()) + answer["base_value"] - answer[output]) < ADDITIVITY_TOLERANCE
        if kind == "regression":
            assert answer["prediction"] == pytest.approx(expected["prediction"][n], rel=1e-6)
            assert answer[output] == pytest.approx(raw[n, 0], abs=1e-6)
            assert answer[output] == pytest.approx(np.log(answer["prediction"]), abs=1e-6)
        else:
            assert answer["probability"] == pytest.approx(expected["probability"][n], abs=1e-6)
            assert answer[output] == pytest.approx(raw[n].max(), abs=1e-6)
        if kind == "multiclass":
            assert answer["label"] == expected["label"][n]
