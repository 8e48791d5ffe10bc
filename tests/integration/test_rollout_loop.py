"""A shadow rollout as a user plays it, on a copy of the small trained project: another seed is trained and
released into shadow, `driftline serve` answers with the champion and logs both arms, labels arrive,
`driftline rollout decide` ends the rollout, and `driftline history --json` tells the story in order."""

from __future__ import annotations

import json
import os
import shutil

import httpx
import pandas as pd
import pytest
import yaml

from driftline.config import load_params
from driftline.core.data import records
from driftline.registry.resolver import resolve_model
from driftline.registry.store import Registry
from driftline.serving.log import log_url, read_window
from tests.helpers.project import cli, model_stages, serving

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shadow(trained, tmp_path_factory):
    """A copy of the trained project in shadow mode whose new model (seed 7) the release made the candidate."""
    root = tmp_path_factory.mktemp("rollout") / "project"
    shutil.copytree(trained, root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["gate"] |= {"bootstrap_rounds": 50, "infra": params["gate"]["infra"] | {"rows": 40}}
    # a test's hour: no wait, and an inconclusive comparison at the deadline goes to on_deadline
    params["registry"]["rollout"] = {"mode": "shadow", "decide": {
        "min_labelled": 200, "min_hours": 0, "deadline_hours": 0.0001, "on_deadline": "promote"}}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    champion = Registry(root / "registry").aliases["champion"]
    model_stages(root, {"seed": 7})
    released = cli(root, "release")
    return {"root": root, "champion": champion, "released": released.stdout + released.stderr}


def test_a_blessed_release_becomes_the_candidate_and_the_champion_stays(shadow):
    registry = Registry(shadow["root"] / "registry")
    candidate = registry.aliases["candidate"]
    assert registry.aliases["champion"] == shadow["champion"] != candidate
    assert registry.rollout["mode"] == "shadow" and registry.rollout["champion"] == shadow["champion"]
    assert f"version {candidate}: candidate in a shadow rollout beside champion" in shadow["released"]
    assert json.loads(cli(shadow["root"], "rollout", "status", "--json").stdout)["candidate"] == candidate


def test_the_service_answers_with_the_champion_and_logs_both_arms_then_the_evidence_decides(shadow, held_out,
                                                                                           monkeypatch):
    root = shadow["root"]
    monkeypatch.setenv("DRIFTLINE_LOG_URL", f"sqlite:///{root / 'logs' / 'inference.db'}")  # the service's, the CLI's
    params = load_params(root / "params.yaml")
    rows = held_out.head(400).reset_index(drop=True)
    ids = [f"r{n}" for n in range(len(rows))]
    sent = [record | {"id": i} for record, i in zip(records(rows.drop(columns=["income"])), ids)]
    with serving(root, {"DRIFTLINE_LOG_URL": os.environ["DRIFTLINE_LOG_URL"]}) as url:
        assert httpx.get(f"{url}/metadata", follow_redirects=True).json()["rollout"]["mode"] == "shadow"
        answers = [a for n in range(0, len(sent), 40)
                   for a in httpx.post(f"{url}/predict", json={"records": sent[n:n + 40]}, timeout=30).json()]
    champion = resolve_model(params, root, "champion").predictor().predict(rows)
    assert [a["id"] for a in answers] == ids
    assert [a["probability"] for a in answers] == pytest.approx(champion["probability"].tolist(), abs=1e-6)

    logged = read_window(log_url(params.serve.log_url, root), params.schema, arms=True)  # the service has stopped
    arms = logged.groupby("record_id")[["arm", "shadow", "model_version"]].apply(
        lambda g: sorted(map(tuple, g.to_numpy().tolist())))
    registry = Registry(root / "registry")
    both = [("candidate", True, registry.aliases["candidate"]), ("champion", False, shadow["champion"])]
    assert sorted(arms.index) == sorted(ids) and all(value == both for value in arms)
    assert read_window(log_url(params.serve.log_url, root), params.schema)["record_id"].tolist() == ids

    truth = root / "truth.csv"
    pd.DataFrame({"id": ids, "income": rows["income"]}).to_csv(truth, index=False)
    cli(root, "labels", str(truth))
    decision = json.loads(cli(root, "rollout", "decide", "--json").stdout)
    assert decision["records"]["paired"] == len(ids) and decision["records"]["labelled"] == len(ids)
    assert decision["realised"]["method"] == "DeLong, paired"
    assert decision["outcome"] in ("promote", "rollback")  # the deadline has passed: never wait
    registry = Registry(root / "registry")
    assert registry.rollout is None and "candidate" not in registry.aliases
    promoted = decision["outcome"] == "promote"
    assert registry.aliases["champion"] == (decision["version"] if promoted else shadow["champion"])
    assert promoted or registry.get(decision["version"])["refused"]["decision"] == decision["evidence"]

    story = [(e["kind"], e["subject"]) for e in json.loads(cli(root, "history", "--json").stdout)]
    version = decision["version"]
    steps = ["contract", "training", "gate", "alias", "rollout", "decision", *["alias"] * promoted, "rollout"]
    expected = [(kind, version) for kind in steps]
    assert [step for step in story if step[1] == version] == expected
    assert story.index(("training", version)) > story.index(("training", shadow["champion"]))
