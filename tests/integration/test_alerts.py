"""Alerts: each policy rule at its edges, the record and the webhook, and the Prefect event that retrains."""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, DeploymentFilter, DeploymentFilterId
from prefect.events import emit_event
from prefect.events.actions import DoNothing
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.events.schemas.deployment_triggers import DeploymentTriggerTypes
from pydantic import TypeAdapter

from driftline.config import PolicyParams, load_params, with_values
from driftline.core.processes import free_port
from driftline.monitoring.alerts import ARTIFACT_KEY, EVENT, evaluate, raise_alert
from driftline.monitoring.summary import Summary
from driftline.release.publish import triggered_by
from tests.helpers.events import acted, fired, subscribed

REPO = Path(__file__).resolve().parents[2]
POLICY = PolicyParams(dataset_drift=True, max_metric_drop=0.03, max_parity_gap=0.3, min_attribution_ndcg=0.9)
OFF = PolicyParams(dataset_drift=False)
MARKER = "driftline.test.marker"


def quiet_summary(**changes) -> Summary:
    """A monitoring summary that breaks no rule of POLICY: every figure sits exactly at its threshold."""
    summary = {
        "batch": "log 2026-11-21T06:00Z..2026-11-22T06:00Z", "rows": 500, "created": "2026-11-22T060000.000001Z",
        "report": "reports/monitoring/2026-11-22/report.html", "model_version": "3",
        "dataset_drift": False, "drifted_columns": [], "scores": {"age": 0.02},
        "performance": {"rows": 500, "labelled_rows": 0, "label_coverage": 0.0, "realised": None,
                        "estimated": {"roc_auc": 0.90}, "estimated_on_labelled": None,
                        "reference": {"roc_auc": 0.93}},  # 0.93 - 0.90 is 0.0300000000000000266 in floats
        "attribution": {"rows": 300, "shares": {}, "reference_shares": {}, "ndcg": 0.9},
        "fairness": {"sex": {"demographic_parity_difference": 0.3, "reference_demographic_parity_difference": 0.2},
                     "race": {"demographic_parity_difference": 0.1, "reference_demographic_parity_difference": 0.1}},
    }
    return Summary.model_validate(summary | changes)


def performance(realised: float | None, estimated: float | None) -> dict:
    return quiet_summary().performance | {
        "realised": None if realised is None else {"roc_auc": realised},
        "estimated": None if estimated is None else {"roc_auc": estimated},
    }


def fairness(sex: float | None) -> dict:
    return quiet_summary().fairness | {"sex": {"demographic_parity_difference": sex}}


def rules(summary: dict, policy: PolicyParams = POLICY) -> list[str]:
    return [finding["rule"] for finding in evaluate(summary, policy)]


def test_a_summary_at_every_threshold_raises_nothing():
    assert evaluate(quiet_summary(), POLICY) == []


@pytest.mark.parametrize(("changes", "fired"), [
    ({"dataset_drift": True, "drifted_columns": ["age"]}, ["dataset_drift"]),
    ({"performance": performance(None, 0.8999)}, ["metric_drop"]),
    ({"performance": performance(0.85, 0.93)}, ["metric_drop"]),   # realised wins over a reassuring estimate
    ({"performance": performance(0.93, 0.50)}, []),                # ... and over an alarming one
    ({"fairness": fairness(0.3001)}, ["parity_gap"]),
    ({"attribution": {"ndcg": 0.8999}}, ["attribution_ndcg"]),
])
def test_each_rule_fires_just_past_its_threshold(changes, fired):
    assert rules(quiet_summary(**changes)) == fired


def test_a_finding_says_what_fired_and_against_what():
    (auc,) = evaluate(quiet_summary(performance=performance(0.85, 0.93)), POLICY)
    assert auc == auc | {"rule": "metric_drop", "value": 0.08, "threshold": 0.03, "source": "realised",
                         "metric": "roc_auc"}
    assert "realised roc_auc 0.8500" in auc["message"]
    both = fairness(0.5) | {"race": {"demographic_parity_difference": 0.4}}
    (parity,) = evaluate(quiet_summary(fairness=both), POLICY)
    assert (parity["value"], parity["attribute"]) == (0.5, "sex") and "race 0.400" in parity["message"]
    assert parity["gap"] == "demographic_parity_difference"


# Each task's primary metric (core.metrics.PRIMARY) at the policy's 0.03 from its test figure, in its direction,
# and its parity gap (alerts.PARITY_GAP) at 0.3: lower is better for log loss and RMSE
TASKS = {"multiclass": ("log_loss", 0.90, 0.93, 0.9301, "selection_rate_gap"),
         "regression": ("rmse", 12.0, 12.03, 12.0301, "mean_prediction_gap")}


@pytest.mark.parametrize("kind", TASKS)
def test_each_task_is_judged_by_its_primary_metric_and_parity_gap(kind):
    metric, test, at, past, gap = TASKS[kind]

    def summary(value: float, parity: float) -> Summary:
        return quiet_summary(task=kind, performance=quiet_summary().performance | {
            "estimated": {metric: value, "roc_auc": 0.1}, "reference": {metric: test, "roc_auc": 0.9}},
            fairness={"group": {gap: parity, "demographic_parity_difference": 0.9}})

    assert evaluate(summary(at, 0.3), POLICY) == []  # the binary figures are not this task's
    assert evaluate(summary(test - 1.0, 0.0), POLICY) == []  # better than at test
    drop, parity = evaluate(summary(past, 0.3001), POLICY)
    assert drop == drop | {"rule": "metric_drop", "metric": metric, "value": 0.0301, "source": "estimated"}
    assert parity == parity | {"rule": "parity_gap", "gap": gap, "attribute": "group", "value": 0.3001}


@pytest.mark.parametrize("changes", [
    {"performance": None, "attribution": None, "fairness": None},
    {"performance": performance(None, None)},
    {"fairness": fairness(None)},
])
def test_missing_inputs_are_skipped(changes):
    broken = quiet_summary(dataset_drift=True, performance=performance(0.5, 0.5), fairness=fairness(0.9),
                           attribution={"ndcg": 0.1})
    assert "metric_drop" in rules(broken)
    skipped = {"performance": "metric_drop", "fairness": "parity_gap", "attribution": "attribution_ndcg"}
    assert not {skipped[key] for key in changes} & set(rules(broken.model_copy(update=changes)))


def test_rules_switched_off_raise_nothing():
    broken = quiet_summary(dataset_drift=True, performance=performance(0.5, 0.5), fairness=fairness(0.9),
                           attribution={"ndcg": 0.1})
    assert len(rules(broken)) == 4
    assert rules(broken, OFF) == []


def segmented(drift: bool, auc: float, parity: float) -> Summary:
    """A quiet summary whose segment `sex=Female` has the given drift decision, estimated ROC AUC (against 0.93
    expected on the segment of the reference) and race parity gap; `sex=Male` breaks nothing."""
    def segment(drift: bool, auc: float, parity: float) -> dict:
        return {"rows": 200, "dataset_drift": drift, "drifted_columns": ["age"] if drift else [],
                "performance": performance(None, auc),
                "fairness": {"race": {"demographic_parity_difference": parity}}}

    return quiet_summary(segments={"values": {"sex=Female": segment(drift, auc, parity),
                                              "sex=Male": segment(False, 0.93, 0.0)}})


def test_a_segment_breaking_a_rule_is_named():
    policy = POLICY.model_copy(update={"segments": True})
    assert evaluate(segmented(False, 0.90, 0.3), policy) == []  # at every threshold, as the batch
    findings = evaluate(segmented(True, 0.8999, 0.3001), policy)
    assert [(f["rule"], f["segment"]) for f in findings] == [
        ("segment_dataset_drift", "sex=Female"), ("segment_metric_drop", "sex=Female"),
        ("segment_parity_gap", "sex=Female")]
    assert findings[0]["message"].startswith("segment sex=Female: dataset drift: 1 drifted column(s): age")
    assert findings[1] | {"value": 0.0301, "source": "estimated", "metric": "roc_auc"} == findings[1]
    assert findings[2]["attribute"] == "race"


def test_segment_rules_are_off_unless_the_policy_names_them():
    assert POLICY.segments is False
    assert evaluate(segmented(True, 0.5, 0.9), POLICY) == []
    assert rules(quiet_summary(segments={}), POLICY.model_copy(update={"segments": True})) == []


@contextmanager
def receiver() -> Iterator[tuple[str, list]]:
    """A real HTTP server on loopback that keeps the JSON bodies POSTed to it."""
    bodies = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hooks/driftline", bodies
    finally:
        server.shutdown()
        server.server_close()


def params_with(webhook: str | None):
    return with_values(load_params(REPO / "params.yaml"), {"monitor.webhook": webhook})


def drifted(batch: str = "batch") -> tuple[Summary, list[dict]]:
    summary = quiet_summary(batch=batch, dataset_drift=True, drifted_columns=["age", "prediction"])
    return summary, evaluate(summary, POLICY)


def test_no_findings_no_alert(tmp_path):
    assert raise_alert(quiet_summary(), [], params_with(None), tmp_path) is None
    assert not (tmp_path / "reports").exists()


def test_the_record_is_written_and_the_webhook_gets_it(tmp_path):
    summary, findings = drifted()
    with receiver() as (url, bodies):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # outside a flow run: no artifact, so no Prefect warning
            record = raise_alert(summary, findings, params_with(url), tmp_path)
    path = Path(record["record"])
    assert path.parent == tmp_path / "reports" / "alerts" and path.name.endswith("-batch.json")
    assert json.loads(path.read_text()) == record
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    assert record["webhook"] == {"status": 204, "error": None}
    assert record["model_version"] == "3" and record["figures"]["drifted_columns"] == ["age", "prediction"]
    (body,) = bodies
    assert body["findings"] == findings and body["record"] == str(path) and body["event"]["event"] == EVENT


def test_an_unreachable_webhook_is_recorded_not_raised(tmp_path):
    summary, findings = drifted()
    started = time.perf_counter()
    record = raise_alert(summary, findings, params_with(f"http://127.0.0.1:{free_port()}/hook"), tmp_path, 2.0)
    assert time.perf_counter() - started < 5
    assert record["webhook"]["status"] is None and "ConnectError" in record["webhook"]["error"]
    assert json.loads(Path(record["record"]).read_text())["webhook"] == record["webhook"]


def test_inside_a_flow_run_the_alert_is_an_event_and_an_artifact(prefect_harness, tmp_path):
    summary, findings = drifted()

    @flow
    def monitoring_like():
        return raise_alert(summary, findings, params_with(None), tmp_path)

    with subscribed(EVENT) as events:
        record = monitoring_like()
        assert record["event"]["emitted"] is True
        (event,) = events.wait(lambda e: str(e.id) == record["event"]["id"])
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[ARTIFACT_KEY])))
    assert event.resource.id == f"driftline.model.{record['model']}"
    assert event.payload["findings"] == findings and event.payload["record"] == record["record"]
    assert any("dataset_drift" in artifact.data for artifact in artifacts)


def test_a_burst_of_alerts_starts_one_training_run(prefect_harness, tmp_path):
    """prefect.yaml's own trigger, on a stand-in deployment: two alerts inside the cooldown, one flow run, which
    gets the first alert's record. The server evaluates triggers in the order events arrive: once a marker event
    sent after the alerts has fired its own automation, the second alert has been evaluated too."""
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    (training,) = (d for d in spec["deployments"] if d["name"] == "training")
    (trigger,) = (TypeAdapter(DeploymentTriggerTypes).validate_python(t) for t in training["triggers"])
    marker = AutomationCore(name="marker", trigger=EventTrigger(expect={MARKER}, posture=Posture.Reactive,
                                                                  match={"prefect.resource.id": MARKER}),
                            actions=[DoNothing()])
    with get_client(sync_client=True) as client, subscribed(EVENT, MARKER, "prefect.automation.") as events:
        marker_id = client.create_automation(marker)
        deployment_id = client.create_deployment(client.create_flow_from_name("alert-target"), "training",
                                                 entrypoint="flows/training.py:training")
        trigger.set_deployment_id(deployment_id)
        automation_id = client.create_automation(trigger.as_automation())
        try:
            records = [raise_alert(*drifted(f"burst-{n}"), params_with(None), tmp_path) for n in range(2)]
            emit_event(MARKER, resource={"prefect.resource.id": MARKER})
            events.wait(fired(marker_id))
            assert len(events.wait(fired(automation_id))) == 1
            assert len([e for e in events.seen if fired(automation_id)(e)]) == 1, "the second alert fired again"
            (done,) = events.wait(acted(automation_id))  # the flow run is created before this event is sent
            assert done.event == "prefect.automation.action.executed", done.payload
            deployment = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            runs = client.read_flow_runs(deployment_filter=deployment)
            assert len(runs) == 1
            assert runs[0].parameters == {"alert": records[0]["record"]}  # the release keeps it as the trigger
        finally:  # the harness is shared by the session: later alerts must not start runs
            client.delete_resource_owned_automations(f"prefect.deployment.{deployment_id}")
            client.delete_automation(marker_id)


def test_the_training_run_an_alert_starts_names_it_as_its_trigger(tmp_path):
    summary, findings = drifted()
    record = raise_alert(summary, findings, params_with(None), tmp_path)
    assert triggered_by(tmp_path, Path(record["record"])) == {
        "alert": f"reports/alerts/{Path(record['record']).name}", "event": record["event"]["id"],
        "rules": [f["rule"] for f in findings]}
    gone = tmp_path / "elsewhere.json"  # a record deleted since (or never there) is still named
    assert triggered_by(tmp_path, gone) == {"alert": "elsewhere.json", "event": None, "rules": None}
