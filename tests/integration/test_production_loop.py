"""The production loop on the small project: serve and log, SIGTERM, late labels, monitor a window of the log."""

import json
from datetime import datetime, timedelta, timezone

import httpx
import numpy as np
import pandas as pd
import pytest

from driftline.config import load_params
from driftline.core.data import records
from driftline.serving.log import read_window
from tests.helpers.events import acted, subscribed
from tests.helpers.project import REPO, SLICE_ROWS, cli, full_data, serving

PLAIN, SHIFTED, BATCH = 3000, 1000, 100


def send(url: str, frame: pd.DataFrame, prefix: str) -> list[str]:
    """POST FRAME in requests of BATCH records with ids PREFIX-<n>; the ids answered."""
    answered = []
    with httpx.Client(timeout=60) as client:
        for start in range(0, len(frame), BATCH):
            chunk = records(frame.iloc[start:start + BATCH])
            for n, row in enumerate(chunk):
                row["id"] = f"{prefix}-{start + n}"
            answer = client.post(f"{url}/predict", json={"records": chunk})
            assert answer.status_code == 200, answer.text
            assert [a["id"] for a in answer.json()] == [r["id"] for r in chunk]
            answered += [a["id"] for a in answer.json()]
    return answered


@pytest.fixture(scope="module")
def loop(trained, tmp_path_factory):
    """The champion served with a log of its own; unseen rows sent, then rows with ages shifted by 20 years,
    then SIGTERM. Labels for every other record."""
    folder = tmp_path_factory.mktemp("loop")
    url = f"sqlite:///{folder / 'inference.db'}"
    unseen = full_data().iloc[SLICE_ROWS:].sample(PLAIN + SHIFTED, random_state=7).replace({"?": None})
    plain, shifted = unseen.iloc[:PLAIN], unseen.iloc[PLAIN:]
    shifted = shifted.assign(age=np.minimum(shifted["age"] + 20, 100))
    with serving(trained, {"DRIFTLINE_LOG_URL": url}) as server:
        started = datetime.now(timezone.utc)
        answered = send(server, plain.drop(columns=["income"]), "plain")
        middle = datetime.now(timezone.utc)
        answered += send(server, shifted.drop(columns=["income"]), "shifted")
        status = httpx.get(f"{server}/metadata/log").json()
    labels = pd.concat([plain.assign(id=[f"plain-{i}" for i in range(PLAIN)]),
                        shifted.assign(id=[f"shifted-{i}" for i in range(SHIFTED)])])[["id", "income"]]
    labels.iloc[::2].to_csv(folder / "labels.csv", index=False)
    return {"url": url, "answered": answered, "started": started, "middle": middle, "folder": folder,
            "status": status}


def test_every_answered_record_is_in_the_log_after_sigterm(loop, trained):
    assert loop["status"]["enabled"] and loop["status"]["failed_writes"] == 0
    logged = read_window(loop["url"], load_params(trained / "params.yaml").schema)
    assert sorted(logged["record_id"]) == sorted(loop["answered"])
    assert logged["model_version"].nunique() == 1 and logged["request_id"].nunique() == len(loop["answered"]) // BATCH
    assert logged["income"].isna().all()


def test_labels_then_monitor_the_window(loop, trained, monkeypatch):
    monkeypatch.setenv("DRIFTLINE_LOG_URL", loop["url"])
    joined = cli(trained, "labels", str(loop["folder"] / "labels.csv"))
    assert f"{(PLAIN + SHIFTED) // 2} new" in joined.stderr
    assert "0 new" in cli(trained, "labels", str(loop["folder"] / "labels.csv")).stderr  # idempotent

    whole = json.loads(cli(trained, "monitor", "--since", "1h", "--json").stdout)
    assert whole["rows"] == PLAIN + SHIFTED and whole["dataset_drift"] and "age" in whole["drifted_columns"]
    performance = whole["performance"]
    assert performance["labelled_rows"] == (PLAIN + SHIFTED) // 2 and performance["label_coverage"] == 0.5
    assert 0.7 < performance["realised"]["roc_auc"] <= 1
    assert 0 <= whole["attribution"]["ndcg"] <= 1 and set(whole["attribution"]["shares"]) >= {"age", "sex"}
    assert {"sex", "race", "age"} <= set(whole["fairness"])
    assert whole["alerts"] and "dataset_drift" in {a["rule"] for a in whole["alerts"]}
    record = json.loads((trained / whole["alert_record"]).read_text())  # relative to the project, or absolute
    assert record["findings"] == whole["alerts"]

    start, end = loop["started"].isoformat(), loop["middle"].isoformat()
    plain = json.loads(cli(trained, "monitor", "--from", start, "--to", end, "--json").stdout)
    assert plain["rows"] == PLAIN and "age" not in plain["drifted_columns"]
    estimated, realised = plain["performance"]["estimated_on_labelled"], plain["performance"]["realised"]
    assert abs(estimated["roc_auc"] - realised["roc_auc"]) <= 0.02, (estimated, realised)
    assert abs(estimated["accuracy"] - realised["accuracy"]) <= 0.02, (estimated, realised)
    assert plain["performance"]["estimated"]["roc_auc"] == pytest.approx(realised["roc_auc"], abs=0.03)


def test_an_unwritable_log_never_fails_a_request(app_client, held_out):
    """The in-process app's log points where no database can be created (conftest's app_client)."""
    before = app_client.get("/metadata/log").json()
    rows = records(held_out.drop(columns=["income"]).head(300).replace({"?": None}))
    for start in range(0, 300, BATCH):
        assert app_client.post("/predict", json={"records": rows[start:start + BATCH]}).status_code == 200
    assert app_client.app_module.LOG["log"].tried(timeout_s=60)  # the writer has tried again since, and failed
    status = app_client.get("/metadata/log").json()
    assert status["enabled"] and status["written"] == 0 and status["pending"] == before["pending"] + 300
    assert status["failed_writes"] > before["failed_writes"] and "FileExistsError" in status["last_error"]


def test_an_alert_from_the_log_window_starts_the_training_deployment(loop, trained, prefect_harness, monkeypatch):
    """The window's drift alert, raised in-process against the Prefect test server: a record, an event, and a
    run of a `training` deployment that carries prefect.yaml's own trigger."""
    import yaml
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.events.schemas.deployment_triggers import DeploymentTriggerTypes
    from pydantic import TypeAdapter

    from driftline.monitoring.alerts import EVENT
    from driftline.orchestration.monitor import monitor_window

    monkeypatch.setenv("DRIFTLINE_LOG_URL", loop["url"])
    (training,) = (d for d in yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]
                   if d["name"] == "training")
    (trigger,) = (TypeAdapter(DeploymentTriggerTypes).validate_python(t) for t in training["triggers"])
    with get_client(sync_client=True) as client, subscribed(EVENT, "prefect.automation.") as events:
        deployment_id = client.create_deployment(client.create_flow_from_name("training"), "training",
                                                 entrypoint=training["entrypoint"])
        trigger.set_deployment_id(deployment_id)
        automation_id = client.create_automation(trigger.as_automation())
        try:
            summary = monitor_window(load_params(trained / "params.yaml"), trained,
                                     loop["started"] - timedelta(minutes=1))
            assert "dataset_drift" in {a["rule"] for a in summary.alerts}
            record = json.loads((trained / summary.alert_record).read_text())
            assert record["event"]["emitted"] is True
            events.wait(lambda e: str(e.id) == record["event"]["id"])
            (done,) = events.wait(acted(automation_id))  # the flow run is created before this event is sent
            assert done.event == "prefect.automation.action.executed", done.payload
            deployment = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            assert len(client.read_flow_runs(deployment_filter=deployment)) == 1, "the alert started no training run"
        finally:  # the harness is shared by the session: later alerts must not start runs
            client.delete_resource_owned_automations(f"prefect.deployment.{deployment_id}")
