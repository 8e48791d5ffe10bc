"""`driftline rollout decide` on real tiny models and a real inference log: a shadow candidate that is better on
the labelled records is promoted, a worse one is rolled back and refused, a canary is compared unpaired, and
a rollout without evidence waits."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from driftline.config import Params
from driftline.core.estimators import estimation_reference
from driftline.core.predictor import Predictor
from driftline.errors import RegistryError
from driftline.registry.store import CANDIDATE, CHAMPION, Registry
from driftline.release import rollout
from driftline.release.decide import decide, decision_markdown
from driftline.serving import labels
from driftline.serving.answers import answer_records
from driftline.serving.arms import canary_arm
from driftline.serving.log import InferenceLog, logged, utc_now
from tests.helpers import tiny_models
from tests.helpers.events import subscribed
from tests.helpers.project import REPO

RECORDS = 400


@pytest.fixture(autouse=True)
def own_log(monkeypatch):
    """Each test's log is its params' serve.log_url: a session fixture's DRIFTLINE_LOG_URL would win over it."""
    monkeypatch.delenv("DRIFTLINE_LOG_URL", raising=False)


@pytest.fixture(scope="module")
def models() -> dict[str, tuple[str, Predictor]]:
    """Two tiny binary models (seeds 0 and 1) in the BentoML store, each with a reference.json that CBPE reads
    (its calibration fitted on the tiny table)."""
    found = {}
    for version, seed in (("v1", 0), ("v2", 1)):
        stored = tiny_models.package("binary", seed=seed)
        predictor = Predictor.load(stored.path)
        frame = tiny_models.table("binary", rows=300, seed=5)
        answers = predictor.task.answers(predictor.predict(frame))
        reference = estimation_reference(predictor.task, answers, predictor.task.targets(frame)) | {"fairness": {}}
        (Path(stored.path) / "reference.json").write_text(json.dumps(reference))
        found[version] = (str(stored.tag), predictor)
    return found


def project(tmp_path, models, mode: str = "shadow", **policy) -> tuple[Params, Registry]:
    """Params on the tiny schema (`group` as the sensitive attribute), a registry with v1 champion, and v2 the
    candidate of a MODE rollout."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["schema"] = tiny_models.schema("binary").model_dump() | {"sensitive": {"group": {}}}
    raw["registry"]["dir"] = str(tmp_path / "registry")
    raw["registry"]["rollout"]["canary_share"] = 0.3
    raw["registry"]["rollout"]["decide"] |= {"min_hours": 24} | policy
    raw["serve"]["log_url"] = f"sqlite:///{tmp_path / 'inference.db'}"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))  # what the flow reads
    params = Params.model_validate(raw)
    registry = Registry(tmp_path / "registry")
    for version, (tag, _) in models.items():
        registry.register({"version": version, "model_tag": tag, "blessed": True, "failed_checks": []})
    registry.move(CHAMPION, "v1", "first")
    rollout.start(registry, "v2", mode, params.registry.rollout.canary_share, "test rollout")
    return params, registry


def play(params: Params, models, mode: str, follow: str | None, flips: float = 0.1) -> None:
    """Log RECORDS requests as the service would in MODE (shadow: both arms' answers per record id, the
    candidate's withheld; canary: the arm the id hashes to), then label them after the answers of FOLLOW's
    arm (FLIPS of them flipped): the arm the labels follow is the better one. FOLLOW None: no labels."""
    frame = tiny_models.table("binary", rows=RECORDS, seed=7)
    features = json.loads(frame[params.schema.features].to_json(orient="records"))
    ids = [f"r{n}" for n in range(RECORDS)]
    answered = {}
    for arm, version in (("champion", "v1"), ("candidate", "v2")):
        predictor = models[version][1]
        answered[arm] = (version, answer_records(predictor.task, predictor.task.answers(predictor.predict(frame))))
    rows, created = [], utc_now()
    for n, record_id in enumerate(ids):
        arms = ARMS_OF[mode](record_id, params.registry.rollout.canary_share)
        for arm in arms:
            version, answers = answered[arm]
            rows.append({"request_id": f"q{n}", "record_id": record_id, "created": created, "model_version": version,
                         "features": features[n], "arm": arm, "shadow": mode == "shadow" and arm == "candidate"}
                        | logged(answers[n]))
    log = InferenceLog(params.serve.log_url)
    log.append(rows)
    assert log.close()["written"] == len(rows)
    if follow is None:
        return
    probability = pd.Series([a["probability"] for a in answered[follow][1]])
    positive = probability > probability.median()
    flipped = np.random.default_rng(0).random(RECORDS) < flips
    labels.store(params.serve.log_url, {i: "yes" if p != f else "no" for i, p, f in zip(ids, positive, flipped)})


ARMS_OF = {"shadow": lambda record_id, share: ("champion", "candidate"),
           "canary": lambda record_id, share: (canary_arm(record_id, share),)}


def later(registry: Registry, hours: float) -> datetime:
    return datetime.fromisoformat(registry.rollout["started"]) + timedelta(hours=hours)


def test_a_better_shadow_candidate_is_promoted(tmp_path, models):
    params, registry = project(tmp_path, models, max_prediction_drift=None)
    play(params, models, "shadow", follow="candidate")
    decided = decide(params, tmp_path, later(registry, 25))
    record = decided.model_dump(mode="json")  # as the evidence file holds it
    assert record["outcome"] == "promote", record["reasons"]
    real = record["realised"]
    assert real["method"] == "DeLong, paired" and real["rows"] == {"champion": RECORDS, "candidate": RECORDS}
    assert real["candidate"] > real["champion"] and real["improvement"][0] >= 0
    assert record["records"] == {"champion": RECORDS, "candidate": RECORDS, "paired": RECORDS, "labelled": RECORDS}
    after = Registry(tmp_path / "registry")
    assert after.aliases == {CHAMPION: "v2"} and after.rollout is None
    moves = after.history()[-2:]
    assert [(m["alias"], m["from"], m["to"]) for m in moves] == [(CHAMPION, "v1", "v2"), (CANDIDATE, "v2", None)]
    assert all(m["evidence"] == record["evidence"] and m["decision"] == "promote" for m in moves)
    evidence = json.loads((tmp_path / "registry" / record["evidence"]).read_text())
    assert evidence["outcome"] == "promote" and evidence["version"] == "v2" and evidence["champion"] == "v1"
    assert evidence["policy"]["min_labelled"] == 200 and evidence["reasons"] == record["reasons"]
    assert "refused" not in after.get("v2")
    assert "promote" in decision_markdown(decided)


def test_a_worse_shadow_candidate_is_rolled_back_and_refused(tmp_path, models):
    params, registry = project(tmp_path, models, max_prediction_drift=None)
    play(params, models, "shadow", follow="champion")
    record = decide(params, tmp_path, later(registry, 2)).model_dump(mode="json")  # worse needs no min_hours
    assert record["outcome"] == "rollback", record["reasons"]
    assert record["realised"]["improvement"][1] < 0 and "worse" in record["reasons"][0]
    after = Registry(tmp_path / "registry")
    assert after.aliases == {CHAMPION: "v1"} and after.rollout is None
    refused = after.get("v2")["refused"]
    assert refused["decision"] == record["evidence"] and refused["reason"] == " ".join(record["reasons"])
    assert after.history()[-1]["to"] is None and after.history()[-1]["decision"] == "rollback"
    assert (tmp_path / "registry" / record["evidence"]).is_file()


def test_the_guards_and_estimates_read_the_arms_answers(tmp_path, models):
    """Two different networks answer differently: at a low enough limit, the drift guard rolls back; CBPE
    estimates each arm on its unlabelled records (none here are labelled: only the estimate and guards speak)."""
    params, registry = project(tmp_path, models, max_prediction_drift=0.01)
    play(params, models, "shadow", follow=None)
    record = decide(params, tmp_path, later(registry, 1)).model_dump(mode="json")
    drift = record["guards"]["prediction_drift"]
    assert drift["score"] > 0.01 and drift["fired"] and record["outcome"] == "rollback"
    assert "drifted" in record["reasons"][0]
    fair = record["guards"]["fairness"]
    assert fair["gap"] == "demographic_parity_difference" and fair["champion"]["attribute"] == "group"
    estimated = record["estimated"]
    assert estimated["method"] == "CBPE" and estimated["rows"] == {"champion": RECORDS, "candidate": RECORDS}
    assert 0 < estimated["champion"]["roc_auc"] < 1 and 0 < estimated["candidate"]["roc_auc"] < 1
    arms = estimated["candidate"]["roc_auc"], estimated["champion"]["roc_auc"]
    assert estimated["difference"] == pytest.approx(arms[0] - arms[1])
    assert record["realised"] is None and record["records"]["labelled"] == 0


def test_a_canary_is_compared_unpaired_and_waits_before_min_hours(tmp_path, models):
    params, registry = project(tmp_path, models, "canary", max_prediction_drift=None, min_labelled=50)
    play(params, models, "canary", follow="candidate")
    record = decide(params, tmp_path, later(registry, 3)).model_dump(mode="json")
    counts = record["records"]
    assert counts["paired"] is None and counts["champion"] + counts["candidate"] == RECORDS
    assert abs(counts["candidate"] / RECORDS - 0.3) < 0.1
    assert record["realised"]["method"] == "DeLong, unpaired"
    assert record["outcome"] == "wait" and "min_hours" in record["reasons"][0]
    assert Registry(tmp_path / "registry").rollout is not None  # nothing moved
    assert Registry(tmp_path / "registry").aliases == {CHAMPION: "v1", CANDIDATE: "v2"}


def test_an_empty_window_waits_then_the_deadline_decides(tmp_path, models):
    params, registry = project(tmp_path, models, on_deadline="rollback")
    waiting = decide(params, tmp_path, later(registry, 1)).model_dump(mode="json")
    assert waiting["outcome"] == "wait" and waiting["records"]["labelled"] == 0 and waiting["realised"] is None
    assert "min_labelled" in waiting["reasons"][0]
    late = decide(params, tmp_path, later(registry, 200)).model_dump(mode="json")
    assert late["outcome"] == "rollback" and "deadline" in late["reasons"][-1]
    assert "refused" in Registry(tmp_path / "registry").get("v2")
    with pytest.raises(RegistryError, match="no rollout is running"):
        decide(params, tmp_path)


def test_the_flow_publishes_the_decision_and_waits_without_a_rollout(prefect_harness, tmp_path, models):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from driftline.orchestration.flows import rollout_decision

    params, registry = project(tmp_path, models, max_prediction_drift=None)
    play(params, models, "shadow", follow="champion")
    with subscribed("driftline.rollout.rollback") as events:
        record = rollout_decision(root=str(tmp_path)).model_dump(mode="json")
        assert record["outcome"] == "rollback" and record["event"]["emitted"] is True
        assert record["event"]["error"] is None
        # this decision's own event: earlier tests of the session emitted rollback events too
        (event,) = events.wait(lambda e: e.payload.get("evidence") == record["evidence"])
    published = ArtifactFilter(key=ArtifactFilterKey(any_=["rollout-decision"]))
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=published)
    assert any(record["evidence"] in (artifact.data or "") for artifact in artifacts)
    assert event.resource.id == f"driftline.model.{params.package.model_name}"
    assert rollout_decision(root=str(tmp_path)) is None  # rolled back: nothing left to decide


def test_the_cli_prints_the_outcome_reasons_and_figures(tmp_path, models, monkeypatch):
    from typer.testing import CliRunner

    from driftline.cli import app

    project(tmp_path, models)
    monkeypatch.chdir(tmp_path)  # the CLI's project root is the working directory
    shown = CliRunner().invoke(app, ["rollout", "decide"])
    assert shown.exit_code == 0, shown.output
    assert "wait: candidate v2 beside champion v1" in shown.stderr and "min_labelled" in shown.stderr
    assert "roc_auc estimated (CBPE)" in shown.stdout and "evidence: " in shown.stderr
    done = CliRunner().invoke(app, ["rollout", "decide", "--json"])
    record = json.loads(done.stdout)
    assert record["outcome"] == "wait" and (tmp_path / "registry" / record["evidence"]).is_file()
    assert CliRunner().invoke(app, ["rollout", "stop"]).exit_code == 0
    refused = CliRunner().invoke(app, ["rollout", "decide"])
    assert refused.exit_code == 1 and "rollout decide failed: no rollout is running" in refused.stderr
