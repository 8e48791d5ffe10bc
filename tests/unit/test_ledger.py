"""The ledger (`driftline history`, reports/history.html): one story in time order from the records the project
writes: a stored and a quarantined batch, contract results, training, gates, alias moves, an alert, the retraining
it triggered, a shadow rollout, its decision and its promotion."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from driftline.cli import app
from driftline.config import load_params
from driftline.core.artifacts import write_json
from driftline.core.sources import quarantine
from driftline.monitoring.alerts import raise_alert
from driftline.monitoring.summary import Summary
from driftline.registry import store
from driftline.registry.store import CANDIDATE, CHALLENGER, CHAMPION, Registry
from driftline.reporting.index import build_index
from driftline.reporting.ledger import ledger
from tests.helpers.records import DECISION

REPO = Path(__file__).resolve().parents[2]
STORY = ["data", "quarantine", "contract", "contract", "training", "gate", "alias", "alias", "alert", "retrain",
         "gate", "alias", "rollout", "decision", "alias", "rollout"]
BATCH = "20250101T000000000000Z-jan"
QUARANTINED = "20250101T010000000000Z-feb.csv"
ASSET = re.compile(r"<(?:script|link|img)\b[^>]*\b(?:src|href)=\"([^\"]*)\"", re.IGNORECASE)


def version(name: str, **extra) -> dict:
    """A registry entry as the release writes it, with the fields the ledger reads."""
    return {"version": name, "model_tag": f"driftline:{name}", "created": store.now(),
            "data_version": "0123456789abcdef.dir", "git_commit": "a1b2c3d4e5f6", "git_dirty": False, "task": "binary",
            "metrics": {"roc_auc": 0.91}, "baseline_roc_auc": 0.9, "training_epochs": {"epochs": 4, "best_epoch": 3},
            "blessed": True, "failed_checks": []} | extra


def gated(registry: Registry, name: str) -> None:
    """The blessing and card the release writes beside a registered version."""
    write_json(registry.blessing_path(name), {"version": name, "blessed": True, "created": store.now(), "checks": [
        {"name": "roc_auc", "kind": "value", "value": 0.91, "threshold": ">= 0.8", "passed": True}]})
    registry.card_path(name).parent.mkdir(parents=True, exist_ok=True)
    registry.card_path(name).write_text(f"# Model card of {name}\n")


def registry_clock(patch: pytest.MonkeyPatch, offset_s: int) -> None:
    """The registry's clock OFFSET_S seconds off the real one, which the alert's record takes: the history has
    whole seconds, and each step of the story must come after the one before it, not beside it."""
    patch.setattr(store, "now", lambda: (datetime.now(timezone.utc) + timedelta(seconds=offset_s)).isoformat(
        timespec="seconds"))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Iterator[Path]:
    """A project folder whose records tell the whole story, written by the writers the stages use; the pages
    built at the end as a release or a monitoring run builds them."""
    with pytest.MonkeyPatch.context() as patch:
        yield story(tmp_path_factory.mktemp("ledger"), patch)


def story(root: Path, patch: pytest.MonkeyPatch) -> Path:
    """ROOT's records of the whole story (STORY), the registry's clock moved by PATCH between its steps."""
    registry_clock(patch, -10)
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy(REPO / name, root / name)
    params = load_params(root / "params.yaml")
    batch = root / params.data.dir / "batches" / f"{BATCH}.csv"
    batch.parent.mkdir(parents=True)
    batch.write_text("age,income\n30,<=50K\n")
    (root / f"{params.data.dir}.dvc").write_text("outs:\n- md5: fedcba9876543210.dir\n  nfiles: 2\n  path: data\n")
    quarantine(b"age\n-1\n", "feb.csv", {"source": "feb.csv", "problems": ["age: values below 17\n  detail"],
                                         "result": None}, None, root / params.ingest.quarantine_dir / QUARANTINED)
    result = root / "artifacts" / "validate" / "result.json"
    write_json(result, {"success": False, "results": [], "statistics": {"evaluated_expectations": 45,
                                                                       "unsuccessful_expectations": 2}})
    moment = datetime(2025, 1, 1, 2, tzinfo=timezone.utc).timestamp()
    os.utime(result, (moment, moment))

    registry = Registry(root / params.registry.dir)
    registry.register(version("a"))
    gated(registry, "a")
    (root / "reports" / "runs" / "a" / "docs").mkdir(parents=True)
    (root / "reports" / "runs" / "a" / "docs" / "index.html").write_text("<html>contract</html>")
    write_json(root / "reports" / "runs" / "a" / "run.json",
               {"version": "a", "created": store.now(), "blessed": True})
    registry.move(CHALLENGER, "a", "the newest registered version")
    registry.move(CHAMPION, "a", "blessed by the gate and the infra check")
    registry_clock(patch, 10)  # the alert comes between the champion's move and the retraining

    summary = Summary(created="2026-11-22T060000.000001Z", batch="log 2026-11-21..2026-11-22", model_version="a",
                      rows=500, report="reports/monitoring/report.html", dataset_drift=True, drifted_columns=["age"])
    alert = raise_alert(summary, [{"rule": "dataset_drift", "value": True, "threshold": None, "message": "drift"}],
                        params, root)
    registry.register(version("b", trigger={"event": alert["event"]["id"], "alert": alert["record"]}))
    gated(registry, "b")
    registry.move(CHALLENGER, "b", "the newest registered version")
    with registry.transaction():  # as rollout.start writes it: the state and the history line together
        registry.rollout = {"version": "b", "mode": "shadow", "canary_share": None, "started": store.now(),
                            "champion": "a"}
        registry.move(CANDIDATE, "b", "blessed by the gate and the infra check: shadow rollout",
                      rollout=registry.rollout)
    registry_clock(patch, 20)  # the decision comes after the rollout's start

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    write_json(registry.dir / "decisions" / "b" / f"{stamp}.json", DECISION | {
        "time": store.now(), "version": "b", "champion": "a", "mode": "shadow", "outcome": "promote",
        "reasons": ["roc_auc +0.02 [0.01, 0.03] on 400 paired records"], "evidence": f"decisions/b/{stamp}.json"})
    with registry.transaction():
        rollout, registry.rollout = registry.rollout, None
        registry.move(CHAMPION, "b", "promoted on evidence", decision=f"decisions/b/{stamp}.json")
        registry.remove(CANDIDATE, "promoted", rollout=rollout)
    build_index(root)
    return root


def test_the_ledger_tells_the_story_in_order(project):
    entries = ledger(load_params(project / "params.yaml"), project)
    assert [e["kind"] for e in entries] == STORY
    times = [datetime.fromisoformat(e["time"]) for e in entries]
    assert times == sorted(times) and all(t.tzinfo == timezone.utc for t in times)
    assert [e["subject"] for e in entries][:5] == ["jan", "feb.csv", "fedcba98", "a", "a"]
    assert entries[1]["summary"] == "batch feb.csv quarantined, 1 problem(s): age: values below 17"
    assert entries[2]["summary"].startswith("contract failed 2 of 45 expectations on data fedcba98")
    assert entries[4]["summary"].startswith("trained on data 01234567 at commit a1b2c3d, test roc_auc 0.9100")
    assert [e["summary"].split(":")[0] for e in entries if e["kind"] == "alias"] == [
        "challenger", "champion", "challenger", "champion"]
    start, end = (e for e in entries if e["kind"] == "rollout")
    assert start["summary"].startswith("shadow rollout of b beside champion a started")
    assert end["summary"].startswith("shadow rollout of b ended: promoted")
    decision = next(e for e in entries if e["kind"] == "decision")
    assert decision["summary"].startswith("promote b (shadow beside champion a): roc_auc +0.02")


def test_each_entry_links_its_evidence_and_the_retraining_its_alert(project):
    entries = ledger(load_params(project / "params.yaml"), project)
    for item in entries:
        assert not Path(item["evidence"]).is_absolute() and (project / item["evidence"]).is_file(), item
    by_kind = {e["kind"]: e for e in entries}
    assert by_kind["quarantine"]["evidence"] == f"quarantine/{QUARANTINED}/report.json"
    assert by_kind["data"]["evidence"] == f"data/batches/{BATCH}.csv"
    assert by_kind["training"]["evidence"] == "reports/runs/a/index.html"
    assert by_kind["retrain"]["evidence"] == "registry/cards/b.md"
    alert = by_kind["alert"]
    assert alert["evidence"].startswith("reports/alerts/") and alert["summary"].endswith("retrained as version b")
    assert by_kind["retrain"]["alert"] == alert["evidence"]
    assert by_kind["retrain"]["summary"].startswith(f"retrained on alert {alert['event']}")


def test_since_keeps_the_entries_from_that_moment(project):
    params = load_params(project / "params.yaml")
    entries = ledger(params, project, since=datetime(2025, 1, 1, 1, tzinfo=timezone.utc))
    assert [e["kind"] for e in entries] == STORY[1:]
    assert ledger(params, project, since=datetime(2999, 1, 1, tzinfo=timezone.utc)) == []


def test_the_cli_prints_json_and_a_table(project, monkeypatch):
    monkeypatch.chdir(project)
    listed = CliRunner().invoke(app, ["history", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [e["kind"] for e in json.loads(listed.stdout)] == STORY
    recent = CliRunner().invoke(app, ["history", "--json", "--since", "1d"])  # the 2025 records are older
    assert [e["kind"] for e in json.loads(recent.stdout)] == STORY[3:]
    dated = CliRunner().invoke(app, ["history", "--json", "--since", "2025-01-01T01:30"])
    assert [e["kind"] for e in json.loads(dated.stdout)] == STORY[2:]
    table = CliRunner().invoke(app, ["history"], env={"COLUMNS": "300"})  # one line per entry
    assert table.exit_code == 0 and "shadow rollout of b" in table.stdout and "quarantine" in table.stdout
    wrong = CliRunner().invoke(app, ["history", "--since", "yesterday"])
    assert wrong.exit_code == 2 and "neither a span" in wrong.output


def test_an_unreadable_registry_is_one_error(tmp_path, monkeypatch):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    registry = tmp_path / load_params(tmp_path / "params.yaml").registry.dir
    registry.mkdir()
    (registry / "registry.json").write_text("{not json")
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(app, ["history"])
    assert done.exit_code == 1 and "history failed: the registry at" in done.output


def test_a_torn_last_history_line_is_left_out_and_the_rest_shows(project, tmp_path, caplog):
    copy = tmp_path / "project"
    shutil.copytree(project, copy)
    with (copy / "registry" / "history.jsonl").open("a") as history:
        history.write('{"time": "2026-01-01T00:00:00+00:00", "alias": "champ')  # an append cut short
    assert [e["kind"] for e in ledger(load_params(copy / "params.yaml"), copy)] == STORY
    assert "left out" in caplog.text


def test_the_report_index_links_the_ledger_page(project):
    index = (project / "reports" / "index.html").read_text()
    assert 'href="history.html"' in index
    page = (project / "reports" / "history.html").read_text()
    assert page.count("<tr data-kind=") == len(STORY)
    assert page.index('data-kind="rollout"') < page.index('data-kind="data"')  # newest first
    assert f'href="../quarantine/{QUARANTINED}/report.json"' in page
    assert 'href="../reports/runs/a/index.html"' not in page and 'href="runs/a/index.html"' in page
    assert ASSET.findall(page) == []  # nothing to fetch: it reads offline


def test_no_ledger_page_without_a_project(tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "history.html").write_text("a stale ledger")
    index = build_index(tmp_path).read_text()
    assert "history.html" not in index and not (tmp_path / "reports" / "history.html").exists()
