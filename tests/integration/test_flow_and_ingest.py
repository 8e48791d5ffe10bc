"""The training and monitoring flows on a DVC project, and ingestion into it."""

import hashlib
import json
import shutil
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml
from dvc.repo import Repo

from driftline.orchestration import pipeline
from tests.helpers.project import cli, dvc, full_data, make_project


@pytest.fixture(scope="module")
def flows(tmp_path_factory, prefect_harness):
    """A small DVC project and its two flows, after one run of the training flow and a second one."""
    root = make_project(tmp_path_factory.mktemp("flow"), rows=3000)
    from driftline.orchestration.flows import monitoring, training

    first = training(root=str(root))
    again = training(root=str(root))
    yield root, first, again, monitoring


@pytest.fixture(scope="module")
def project(flows):
    return flows[:3]


def dependencies(root: Path) -> dict[str, set[str]]:
    """Each dvc.yaml stage and the stages whose outputs it reads, from dvc.yaml itself."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    outs = {s: {next(iter(o)) if isinstance(o, dict) else o for o in spec.get("outs", [])}
            for s, spec in stages.items()}
    return {
        stage: {other for other, paths in outs.items() for dep in spec.get("deps", [])
                if any(dep == p or dep.startswith(p.rstrip("/") + "/") or p.startswith(dep + "/") for p in paths)}
        for stage, spec in stages.items()
    }


def test_stage_order_respects_every_dependency(project):
    root, _, _ = project
    with Repo(str(root)) as repo:
        order = pipeline.stage_order(repo)
    needs = dependencies(root)
    assert sorted(order) == sorted(needs)
    for stage, upstream in needs.items():
        assert all(order.index(u) < order.index(stage) for u in upstream), (stage, upstream, order)
    assert needs["package"] >= {"train", "evaluate"} and needs["audit"] >= {"train", "evaluate"}


def test_flow_runs_each_stage_then_skips_them(project):
    root, first, again = project
    with Repo(str(root)) as repo:
        assert [r.stage for r in first["stages"]] == pipeline.stage_order(repo)
        assert repo.status() == {}
    assert {r.status for r in first["stages"]} == {"ran"}
    assert {r.status for r in again["stages"]} == {"skipped"}
    evaluation = json.loads((root / "metrics/evaluate.json").read_text())
    key = next(r.key_figure for r in first["stages"] if r.stage == "evaluate")
    assert key == f"roc_auc={evaluation['roc_auc']:.4f}"


def test_the_flow_releases_once_and_a_no_op_run_moves_nothing(project):
    root, first, again = project
    registry = json.loads((root / "registry/registry.json").read_text())
    assert first["release"]["new"] and first["release"]["promoted"]
    assert registry["aliases"] == {"champion": first["release"]["version"], "challenger": first["release"]["version"]}
    assert not again["release"]["new"] and not again["release"]["promoted"]
    assert len((root / "registry/history.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize(("edited", "reruns"), [
    ("src/driftline/core/encoding.py", {"featurize", "train", "boost", "evaluate", "audit", "package"}),
    # the baseline lives in the evaluate stage alone: its edit builds no new bento
    ("src/driftline/stages/evaluate.py", {"evaluate"}),
])
def test_editing_code_reruns_the_stages_that_import_it(project, tmp_path, edited, reruns):
    root = tmp_path / "copy"
    shutil.copytree(project[0], root)
    code = root / edited
    code.write_text(code.read_text() + "\n# an edit\n")
    with Repo(str(root)) as repo:
        changed = {name.split(":")[-1] for name in repo.status()}
    assert changed == reruns


def test_editing_sensitive_attributes_reruns_only_validate_and_audit(project, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(project[0], root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    del params["schema"]["sensitive"]["race"]
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    with Repo(str(root)) as repo:
        changed = {name.split(":")[-1] for name in repo.status()}
    assert changed == {"validate", "audit"}


def test_a_baseline_change_re_evaluates_without_repackaging(project, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(project[0], root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["evaluate"]["baseline"]["max_iter"] = 50
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert changed_stages(root) == {"evaluate"}
    dvc(root, "repro", "--single-item", "evaluate")
    assert changed_stages(root) == set()  # the decision is unchanged, so audit and package stay cached


def test_monitoring_flow_publishes_the_summary_and_report(flows, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from driftline.serving.log import PREDICTIONS, connect, utc_now

    root, _, _, monitoring = flows
    batch = tmp_path / "batch.csv"
    full_data().iloc[4000:5000].to_csv(batch, index=False)
    params_file = root / "params.yaml"
    shipped = params_file.read_text()
    params = yaml.safe_load(shipped)
    log = tmp_path / "inference.db"
    params["serve"] |= {"log_retention_days": 30, "log_url": f"sqlite:///{log}"}
    row = {"request_id": "r", "model_version": "1", "features": {}, "probability": 0.5, "label": "x"}
    engine = connect(f"sqlite:///{log}")
    with engine.begin() as connection:  # one record past the retention, one inside it
        connection.execute(PREDICTIONS.insert(), [row | {"record_id": name, "created": utc_now() - timedelta(days=age)}
                                                  for name, age in (("old", 31), ("new", 29))])
    try:
        params_file.write_text(yaml.safe_dump(params, sort_keys=False))
        summary = monitoring(batch=str(batch), root=str(root))
    finally:
        params_file.write_text(shipped)
    assert summary["purged"]["predictions"] == 1
    with engine.connect() as connection:
        assert [r.record_id for r in connection.execute(PREDICTIONS.select())] == ["new"]
    engine.dispose()
    assert summary["rows"] == 1000 and set(summary["scores"]) >= {"age", "prediction"}
    assert Path(summary["report"]).is_file()
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["drift-summary", "drift-report"]))
        )
    assert {a.key for a in artifacts} == {"drift-summary", "drift-report"}
    assert any(f"{summary['rows']} rows" in (a.data or "") for a in artifacts if a.key == "drift-summary")


def snapshot(root: Path) -> dict:
    files = [p for p in sorted((root / "data").rglob("*")) if p.is_file()] + [root / "data.dvc", root / "dvc.lock"]
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


BAD_BATCHES = {
    "missing_column": lambda f: f.drop(columns=["education"]).to_csv(index=False),
    "text_in_numbers": lambda f: f.assign(hours_per_week="lots").to_csv(index=False),
    "invalid_labels": lambda f: f.assign(income="rich").to_csv(index=False),
    "mostly_null": lambda f: f.assign(occupation="?").to_csv(index=False),
    "out_of_range": lambda f: f.assign(age=-4).to_csv(index=False),
    "unknown_categories": lambda f: f.assign(native_country="Atlantis").to_csv(index=False),
    "empty": lambda f: "",
    "binary": lambda f: bytes(range(256)) * 20,
}


def changed_stages(root: Path) -> set[str]:
    with Repo(str(root)) as repo:
        return {name.split(":")[-1] for name in repo.status()}


def in_sync_with_remote(root: Path, pointer: str) -> bool:
    with Repo(str(root)) as repo:
        return repo.status(targets=[str(root / pointer)], cloud=True) == {}


@pytest.mark.parametrize("kind", sorted(BAD_BATCHES))
def test_bad_batches_are_refused_and_change_nothing(project, kind, tmp_path):
    root, _, _ = project
    content = BAD_BATCHES[kind](full_data().iloc[5000:5100])
    content = content if isinstance(content, bytes) else content.encode()
    batch = tmp_path / f"{kind}.csv"
    batch.write_bytes(content)
    before = snapshot(root)
    done = cli(root, "ingest", str(batch), check=False)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "ingest" in done.stderr and "failed" in done.stderr
    assert snapshot(root) == before
    (quarantined,) = (root / "quarantine").glob(f"*-{kind}.csv")
    assert json.loads((quarantined / "report.json").read_text())["problems"]
    assert (quarantined / f"{kind}.csv").read_bytes() == content  # exactly what was checked


def test_an_unreadable_url_is_refused_without_leaking_its_query(project, tmp_path):
    root, _, _ = project
    before = snapshot(root)
    done = cli(root, "ingest", f"file://{tmp_path}/gone.csv?X-Amz-Signature=SECRET", check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "SECRET" not in done.stderr and "gone.csv" in done.stderr
    assert snapshot(root) == before
    (quarantined,) = (root / "quarantine").glob("*-gone.csv")
    assert [p.name for p in quarantined.iterdir()] == ["report.json"]
    assert "SECRET" not in (quarantined / "report.json").read_text()


def test_good_batch_becomes_a_new_pushed_version(project, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(project[0], root)
    batch = tmp_path / "new.csv"
    full_data().iloc[5000:5300].to_csv(batch, index=False)
    before = (root / "data.dvc").read_text()
    cli(root, "ingest", str(batch))
    assert (root / "data.dvc").read_text() != before
    assert len(list((root / "data" / "batches").glob("*-new.csv"))) == 1
    assert in_sync_with_remote(root, "data.dvc")
    assert {"validate", "featurize"} <= changed_stages(root)  # the next repro retrains on it


def test_rows_already_stored_are_dropped_and_the_next_repro_passes(project, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(project[0], root)
    data = full_data()
    pd.concat([data.iloc[:300], data.iloc[5000:5100]]).to_csv(tmp_path / "mixed.csv", index=False)
    done = cli(root, "ingest", str(tmp_path / "mixed.csv"))
    assert "dropped 300 rows already stored" in done.stderr
    (stored,) = (root / "data" / "batches").glob("*-mixed.csv")
    assert len(pd.read_csv(stored)) == 100
    dvc(root, "repro", "validate")
    assert json.loads((root / "metrics/validate.json").read_text())["rows"] == 3100
    data.iloc[:50].to_csv(tmp_path / "old.csv", index=False)
    refused = cli(root, "ingest", str(tmp_path / "old.csv"), check=False)
    assert refused.returncode == 1 and "already in" in refused.stderr


def test_a_nested_data_folder_is_versioned_and_pushed(tmp_path):
    root = make_project(tmp_path / "nested", rows=1000)
    dvc(root, "remove", "data.dvc")
    (root / "data" / "raw").mkdir()
    (root / "data" / "adult.csv").rename(root / "data" / "raw" / "adult.csv")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"]["dir"] = "data/raw"
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc(root, "add", "-q", "data/raw")
    full_data().iloc[5000:5100].to_csv(tmp_path / "new.csv", index=False)
    cli(root, "ingest", str(tmp_path / "new.csv"))
    assert in_sync_with_remote(root, "data/raw.dvc")
    assert "validate" in changed_stages(root)
