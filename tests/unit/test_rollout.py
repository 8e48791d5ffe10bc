"""Rollouts in the registry: a blessed version becomes the candidate beside the champion, in registry.json and
the history; what cannot be served beside the champion is refused; stopping or promoting ends it."""

from __future__ import annotations

import json
import shutil

import pytest

from driftline.config import load_params
from driftline.errors import RegistryError
from driftline.registry.store import CANDIDATE, CHAMPION, Registry
from driftline.release import rollout
from driftline.release.judge import rolls_out
from driftline.release.publish import promote
from tests.helpers import tiny_models
from tests.helpers.project import REPO, cli_in_process


@pytest.fixture(scope="module")
def tags() -> dict[str, str]:
    models = {"a": ("binary", 0), "b": ("binary", 1), "c": ("binary", 2), "m": ("multiclass", 0)}
    return {name: str(tiny_models.package(kind, seed).tag) for name, (kind, seed) in models.items()}


def registry_with(root, tags: dict[str, str], blessed=("a", "b", "c", "m")) -> Registry:
    registry = Registry(root / "registry")
    for name, tag in tags.items():
        registry.register({"version": name, "model_tag": tag, "blessed": name in blessed,
                           "failed_checks": [] if name in blessed else ["auc floor"]})
    registry.move(CHAMPION, "a", "first")
    return registry


def test_a_started_rollout_is_kept_in_the_registry_and_the_history(tmp_path, tags):
    registry = registry_with(tmp_path, tags)
    record = rollout.start(registry, "b", "canary", 0.2, "by hand")
    reread = Registry(tmp_path / "registry")
    assert reread.aliases == {CHAMPION: "a", CANDIDATE: "b"}
    assert reread.rollout | {"started": None} == {"version": "b", "mode": "canary", "canary_share": 0.2,
                                                   "started": None, "champion": "a"}
    assert record["moved"] and reread.history()[-1]["rollout"] == reread.rollout
    assert rollout.status(reread) == {"rollout": reread.rollout, "champion": "a", "candidate": "b"}
    assert Registry(tmp_path / "registry").get(CANDIDATE)["version"] == "b"


def test_a_new_rollout_supersedes_the_running_one(tmp_path, tags):
    registry = registry_with(tmp_path, tags)
    rollout.start(registry, "b", "shadow", 0.1, "first")
    rollout.start(registry, "c", "shadow", 0.1, "second")
    moves = [(r["alias"], r["from"], r["to"]) for r in registry.history()]
    assert moves[-2:] == [(CANDIDATE, "b", None), (CANDIDATE, None, "c")]
    assert registry.history()[-2]["reason"] == "superseded by version c"
    assert registry.rollout["version"] == "c" and registry.rollout["canary_share"] is None


@pytest.mark.parametrize(("version", "mode", "message"), [
    ("c", "shadow", "not blessed"), ("a", "shadow", "is the champion already"), ("b", "blue-green", "not one of"),
    ("m", "shadow", "another task"), ("z", "shadow", "no registered version"),
])
def test_what_cannot_run_beside_the_champion_is_refused(tmp_path, tags, version, mode, message):
    registry = registry_with(tmp_path, tags, blessed=("a", "b", "m"))
    with pytest.raises(RegistryError, match=message):
        rollout.start(registry, version, mode, 0.1, "by hand")
    assert Registry(tmp_path / "registry").rollout is None and CANDIDATE not in registry.aliases


def test_stopping_keeps_the_champion_and_records_the_end(tmp_path, tags):
    registry = registry_with(tmp_path, tags)
    with pytest.raises(RegistryError, match="no rollout is running"):
        rollout.stop(registry, "nothing to stop")
    rollout.start(registry, "b", "shadow", 0.1, "by hand")
    record = rollout.stop(registry, "enough")
    reread = Registry(tmp_path / "registry")
    assert (record["from"], record["to"], record["rollout"]["version"]) == ("b", None, "b")
    assert reread.rollout is None and reread.aliases == {CHAMPION: "a"}
    assert "rollout" not in json.loads(reread.state_path.read_text())
    with pytest.raises(RegistryError, match="no candidate"):
        reread.get(CANDIDATE)


def test_promoting_the_candidate_by_hand_ends_its_rollout(tmp_path, tags):
    registry_with(tmp_path, tags)
    params = load_params(REPO / "params.yaml")  # registry.dir: registry, under tmp_path
    rollout.start(Registry(tmp_path / "registry"), "b", "shadow", 0.1, "by hand")
    promote(params, "b", tmp_path)
    reread = Registry(tmp_path / "registry")
    assert reread.aliases == {CHAMPION: "b"} and reread.rollout is None
    assert [(r["alias"], r["to"]) for r in reread.history()][-2:] == [(CANDIDATE, None), (CHAMPION, "b")]


def test_a_refused_version_is_promoted_only_with_force_and_a_reason(tmp_path, tags):
    registry = registry_with(tmp_path, tags)
    with registry.transaction():  # as a rollout decision's rollback leaves it
        registry.get("b")["refused"] = {"time": "t", "reason": "worse", "decision": "decisions/b/t.json"}
    params = load_params(REPO / "params.yaml")
    with pytest.raises(RegistryError, match=r"rolled back by a rollout decision \(decisions/b/t.json\): worse; use "
                                            "--force --reason"):
        promote(params, "b", tmp_path)
    with pytest.raises(RegistryError, match="needs --reason"):
        promote(params, "b", tmp_path, force=True)
    record = promote(params, "b", tmp_path, force=True, reason="the decision read a broken log")
    assert record["forced"] and Registry(tmp_path / "registry").aliases[CHAMPION] == "b"


def test_a_blessed_release_rolls_out_only_in_shadow_or_canary_and_beside_a_champion(tmp_path, tags):
    params = load_params(REPO / "params.yaml")
    registry = Registry(tmp_path / "registry")
    shadow = params.model_copy(update={"registry": params.registry.model_copy(update={
        "rollout": params.registry.rollout.model_copy(update={"mode": "shadow"})})})
    assert not rolls_out(shadow, registry)  # the first model has nothing to roll out beside
    registry = registry_with(tmp_path, tags)
    assert rolls_out(shadow, registry) and not rolls_out(params, registry)


def test_rollout_status_prints_the_state(tmp_path, tags):
    registry = registry_with(tmp_path, tags)
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    assert json.loads(cli_in_process(tmp_path, "rollout", "status", "--json").stdout)["rollout"] is None
    rollout.start(registry, "b", "canary", 0.25, "by hand")
    shown = cli_in_process(tmp_path, "rollout", "status")
    assert "canary (share 25%): candidate b beside champion a" in shown.stderr
