"""The service in-process (BentoML's own app) on a tiny model of each task: its answers, its request model,
its inference log."""

from __future__ import annotations

import importlib.util
import json
import sys
import time

import numpy as np
import pandas as pd
import pytest

from driftline.core.predictor import Predictor
from driftline.serving.log import read_window
from tests.helpers import tiny_models
from tests.helpers.project import REPO

KINDS = ["binary", "multiclass", "regression"]


def fresh_service(kind: str):
    """A copy of the service module of its own (it reads its model when imported), so that the session's
    app_client, which reloads driftline.serving.service, keeps its globals. BentoML registers an app's metrics
    process-wide, once: this copy's app goes without them."""
    spec = importlib.util.spec_from_file_location(f"service_{kind}", REPO / "src/driftline/serving/service.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the request model's annotations there
    spec.loader.exec_module(module)
    module.Driftline.config["metrics"] = {"enabled": False}
    return module


@pytest.fixture(scope="module", params=KINDS)
def served(request, tmp_path_factory):
    """(kind, test client, predictor of the same model, log URL) for a tiny model of each task."""
    from starlette.testclient import TestClient

    kind = request.param
    model = tiny_models.package(kind)
    url = f"sqlite:///{tmp_path_factory.mktemp(f'log-{kind}') / 'inference.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DRIFTLINE_MODEL_TAG", str(model.tag))
        patch.setenv("DRIFTLINE_LOG_URL", url)
        service = fresh_service(kind)
        with TestClient(service.Driftline.to_asgi()) as client:
            yield kind, client, Predictor.load(model.path), url


def records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records"))


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
    before = client.get("/metadata/log").json()["written"]
    answers = client.post("/predict", json={"records": records(rows)}).json()
    deadline = time.monotonic() + 10
    while client.get("/metadata/log").json()["written"] < before + len(rows) and time.monotonic() < deadline:
        time.sleep(0.05)
    window = read_window(url, predictor.schema).set_index("record_id").loc[[a["id"] for a in answers]]
    expected = predictor.predict(rows)
    for name in predictor.task.output_columns:
        if name == "label":
            assert window[name].tolist() == expected[name].tolist()
        else:
            np.testing.assert_allclose(window[name].astype(float), expected[name], rtol=1e-6)
    assert window[predictor.schema.target].isna().all()


def test_explanations_add_up_to_the_raw_output_beside_the_answer(served):
    from driftline.core.explain import ADDITIVITY_TOLERANCE
    from driftline.core.predictor import raw_outputs

    kind, client, predictor, _ = served
    rows = features(predictor, rows=4)
    explained = client.post("/explain", json={"records": records(rows)})
    assert explained.status_code == 200, explained.text
    answers, expected = explained.json(), predictor.predict(rows)
    raw = raw_outputs(predictor.model, predictor.encode({c: rows[c].tolist() for c in rows}))
    output = {"binary": "logit", "multiclass": "logit", "regression": "standardised_prediction"}[kind]
    for n, answer in enumerate(answers):
        assert list(answer)[-2:] == ["base_value", "attributions"] and list(answer["attributions"]) == list(rows)
        assert abs(sum(answer["attributions"].values()) + answer["base_value"] - answer[output]) < ADDITIVITY_TOLERANCE
        if kind == "regression":
            assert answer["prediction"] == pytest.approx(expected["prediction"][n], rel=1e-6)
            assert answer[output] == pytest.approx(raw[n, 0], abs=1e-6)
        else:
            assert answer["probability"] == pytest.approx(expected["probability"][n], abs=1e-6)
            assert answer[output] == pytest.approx(raw[n].max(), abs=1e-6)
        if kind == "multiclass":
            assert answer["label"] == expected["label"][n]
