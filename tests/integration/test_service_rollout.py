"""The service in-process with a rollout: two tiny binary models (two seeds) as champion and candidate, in shadow
(the champion answers, both are logged) and in canary (each record's arm by its id's hash), and what `driftline
serve` passes the service for the registry's rollout."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest

from driftline.core.data import records
from driftline.core.predictor import Predictor
from driftline.registry.store import CHAMPION, Registry
from driftline.release import rollout
from driftline.serving.arms import CANDIDATE_ARM, CHAMPION_ARM, canary_arm
from driftline.serving.log import read_window
from tests.helpers import tiny_models
from tests.helpers.project import REPO
from tests.helpers.service import drain, service_client

SHARE = 0.3


@pytest.fixture(scope="module")
def models() -> dict[str, object]:
    """The champion's and the candidate's stored models: the same task and features, different weights."""
    return {"champion": tiny_models.package("binary", seed=0), "candidate": tiny_models.package("binary", seed=1)}


def rollout_env(models: dict, mode: str, log_url: str) -> dict[str, str]:
    champion, candidate = models["champion"], models["candidate"]
    return {"DRIFTLINE_MODEL_TAG": str(champion.tag), "DRIFTLINE_VERSION": "champ1", "DRIFTLINE_LOG_URL": log_url,
            "DRIFTLINE_ROLLOUT_MODE": mode, "DRIFTLINE_CANDIDATE_VERSION": "cand2",
            "DRIFTLINE_CANDIDATE_TAG": str(candidate.tag), "DRIFTLINE_CANDIDATE_PATH": candidate.path,
            "DRIFTLINE_CANARY_SHARE": str(SHARE) if mode == "canary" else ""}


@contextmanager
def service_in(mode: str, models: dict, tmp_path_factory) -> Iterator[tuple]:
    """(mode, test client, {arm: offline predictor}, log URL) of the service in a rollout of MODE; the client's
    `app_module` is the service's module."""
    url = f"sqlite:///{tmp_path_factory.mktemp(f'log-{mode}') / 'inference.db'}"
    with service_client(f"rollout_{mode}", rollout_env(models, mode, url)) as client:
        yield mode, client, {arm: Predictor.load(m.path) for arm, m in models.items()}, url


@pytest.fixture(scope="module")
def shadow(models, tmp_path_factory):
    with service_in("shadow", models, tmp_path_factory) as served:
        yield served


@pytest.fixture(scope="module")
def canary(models, tmp_path_factory):
    with service_in("canary", models, tmp_path_factory) as served:
        yield served


@pytest.fixture(params=["shadow", "canary"])
def rolled_out(request):
    return request.getfixturevalue(request.param)


def rows(count: int, seed: int = 2) -> pd.DataFrame:
    return tiny_models.table("binary", rows=count, seed=seed)[tiny_models.schema("binary").features]


def predict(client, frame: pd.DataFrame, ids: list[str]) -> list[dict]:
    body = [record | {"id": i} for record, i in zip(records(frame), ids)]
    answer = client.post("/predict", json={"records": body})
    assert answer.status_code == 200, answer.text
    return answer.json()


def logged_window(client, url: str, predictor: Predictor, rows_expected: int, arms: bool = True) -> pd.DataFrame:
    """The log, read once the shadow has scored and the log written what they were given."""
    drain(client)
    status = client.get("/metadata/log", params={"wait": 1}).json()
    assert status["settled"] and status["written"] >= rows_expected, status
    return read_window(url, predictor.schema, arms=arms)


def test_metadata_shows_the_rollout(rolled_out, models):
    mode, client, _, _ = rolled_out
    shown = client.get("/metadata").json()["rollout"]
    assert shown == {"mode": mode, "candidate": "cand2", "candidate_model_tag": str(models["candidate"].tag),
                     "canary_share": SHARE if mode == "canary" else None, "champion": "champ1",
                     "shadow_scoring": True if mode == "shadow" else None, "degraded": None}


def test_shadow_answers_with_the_champion_and_logs_both_arms(shadow):
    _, client, offline, url = shadow
    frame = rows(60)
    ids = [f"shadow-{n}" for n in range(60)]
    answers = predict(client, frame.iloc[:30], ids[:30]) + predict(client, frame.iloc[30:], ids[30:])
    expected = {arm: predictor.predict(frame) for arm, predictor in offline.items()}
    assert not np.allclose(expected["champion"]["probability"], expected["candidate"]["probability"])
    np.testing.assert_allclose([a["probability"] for a in answers], expected["champion"]["probability"], rtol=1e-6)

    window = logged_window(client, url, offline["champion"], 2 * len(ids))
    window = window[window["record_id"].isin(ids)]
    assert len(window) == 2 * len(ids)
    for arm, shadow, version in ((CHAMPION_ARM, False, "champ1"), (CANDIDATE_ARM, True, "cand2")):
        mine = window[window["arm"] == arm].set_index("record_id").loc[ids]
        assert mine["shadow"].tolist() == [shadow] * len(ids) and set(mine["model_version"]) == {version}
        np.testing.assert_allclose(mine["probability"], expected[arm]["probability"], rtol=1e-6)
        assert mine["label"].tolist() == expected[arm]["label"].tolist()
    both = window.groupby("record_id")["request_id"].nunique()
    assert (both == 1).all()  # the candidate's row keeps the request it came with

    answered = read_window(url, offline["champion"].schema)
    answered = answered[answered["record_id"].isin(ids)]
    assert sorted(answered["record_id"]) == sorted(ids) and set(answered["model_version"]) == {"champ1"}
    assert client.get("/metadata/log").json()["shadow"] | {"pending": 0} == {
        "scored": len(ids), "failed": 0, "dropped": 0, "pending": 0}


def test_canary_answers_each_record_with_its_arm(canary):
    _, client, offline, url = canary
    frame = rows(200)
    ids = [f"canary-{n}" for n in range(200)]
    answers = [a for start in range(0, 200, 50) for a in predict(client, frame.iloc[start:start + 50],
                                                                  ids[start:start + 50])]
    arms = np.array([canary_arm(i, SHARE) for i in ids])
    assert 0.15 < (arms == CANDIDATE_ARM).mean() < 0.45  # both arms answer some of the 200
    assert [a["id"] for a in answers] == ids
    for arm, predictor in offline.items():
        mine = arms == arm
        expected = predictor.predict(frame[mine].reset_index(drop=True))
        np.testing.assert_allclose(np.array([a["probability"] for a in answers])[mine], expected["probability"],
                                   rtol=1e-6)
    again = predict(client, frame.iloc[:50], ids[:50])  # a repeated id gets the same arm, so the same answer
    np.testing.assert_allclose([a["probability"] for a in again], [a["probability"] for a in answers[:50]], rtol=1e-6)

    window = logged_window(client, url, offline["champion"], 250)
    window = window[window["record_id"].isin(ids)].drop_duplicates("record_id").set_index("record_id").loc[ids]
    assert window["arm"].tolist() == arms.tolist() and not window["shadow"].any()
    assert window["model_version"].tolist() == ["cand2" if a == CANDIDATE_ARM else "champ1" for a in arms]
    assert len(read_window(url, offline["champion"].schema)) == len(read_window(url, offline["champion"].schema,
                                                                                 arms=True))


def test_a_canary_of_10000_records_answers_its_share_with_the_candidate_each_id_always_the_same_arm(canary):
    _, client, offline, url = canary
    frame = rows(100, seed=5)
    ids = [f"share-{n}" for n in range(10_000)]
    for start in range(0, len(ids), 100):
        predict(client, frame, ids[start:start + 100])
    window = logged_window(client, url, offline["champion"], 10_000)
    mine = window[window["record_id"].str.startswith("share-")]
    assert len(mine) == 10_000 and abs((mine["arm"] == CANDIDATE_ARM).mean() - SHARE) <= 0.03
    again = [a["probability"] for a in predict(client, frame, ids[:100])]  # the same ids again: the same arms
    np.testing.assert_allclose(again, mine["probability"].to_numpy()[:100], rtol=1e-6)


def test_serve_passes_the_registrys_rollout_to_the_service(tmp_path, models):
    from driftline.release.rollout import service_env as serve_env

    registry = Registry(tmp_path / "registry")
    for version, model in (("a", models["champion"]), ("b", models["candidate"])):
        registry.register({"version": version, "model_tag": str(model.tag), "blessed": True, "failed_checks": []})
    registry.move(CHAMPION, "a", "first")
    env, line = serve_env(registry, CHAMPION, log_on=True)
    assert env["DRIFTLINE_ROLLOUT_MODE"] == "" and line == ""

    rollout.start(registry, "b", "canary", 0.2, "test")
    env, line = serve_env(Registry(tmp_path / "registry"), CHAMPION, log_on=True)  # read again: as at a restart
    assert env == {"DRIFTLINE_ROLLOUT_MODE": "canary", "DRIFTLINE_CANDIDATE_VERSION": "b",
                   "DRIFTLINE_CANDIDATE_TAG": str(models["candidate"].tag),
                   "DRIFTLINE_CANDIDATE_PATH": models["candidate"].path, "DRIFTLINE_CANARY_SHARE": "0.2",
                   "DRIFTLINE_ROLLOUT_DEGRADED": ""}
    assert "candidate b in canary" in line and "20%" in line
    env, line = serve_env(registry, "a", log_on=True)
    assert env["DRIFTLINE_ROLLOUT_MODE"] == "" and "not served" in line

    rollout.start(registry, "b", "shadow", 0.5, "test")
    env, line = serve_env(registry, CHAMPION, log_on=False)
    assert env["DRIFTLINE_ROLLOUT_MODE"] == "shadow" and env["DRIFTLINE_CANARY_SHARE"] == ""
    assert "scores nothing" in line


def test_a_candidate_of_another_task_is_refused(canary):
    from driftline.errors import RegistryError

    _, client, offline, _ = canary
    load_candidate = client.app_module.load_candidate
    with pytest.raises(RegistryError, match="does not answer the champion's task"):
        load_candidate(tiny_models.package("multiclass").path, offline["champion"])
    with pytest.raises(RegistryError, match="is not there"):
        load_candidate(None, offline["champion"])


def test_a_bento_built_for_a_fresh_checkout_is_built_once(tmp_path, models):
    """The registered bento is missing (a fresh clone): the first serve builds one from the model, and the next
    finds it by its model's label instead of building again."""
    import shutil

    import bentoml

    from driftline.config import load_params
    from driftline.registry.resolver import serving_bento

    (tmp_path / "src").symlink_to(REPO / "src")
    shutil.copy(REPO / "bentofile.yaml", tmp_path)
    registry = Registry(tmp_path / "registry")
    registry.register({"version": "a", "model_tag": str(models["champion"].tag), "bento_tag": "driftline:gone",
                       "blessed": True, "failed_checks": []})
    registry.move(CHAMPION, "a", "first")
    for path in registry.card_files("a").values():  # the bento ships the card
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    params = load_params(REPO / "params.yaml")
    before = {str(b.tag) for b in bentoml.list()}
    built, entry = serving_bento(params, tmp_path, rollout=True)
    assert entry["version"] == "a" and built not in before
    assert serving_bento(params, tmp_path, rollout=True)[0] == built
    assert {str(b.tag) for b in bentoml.list()} - before == {built}
