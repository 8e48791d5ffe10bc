"""The training flow reproducing a DVC project, and ingestion into it."""

import hashlib
import shutil
from pathlib import Path

import pytest

from driftline import pipeline
from tests.conftest import cli, dvc, full_data, make_project

STAGES = ["validate", "featurize", "train", "evaluate", "package", "audit"]


@pytest.fixture(scope="module")
def project(tmp_path_factory, prefect_harness):
    """A small DVC project after one run of the training flow."""
    import sys

    root = make_project(tmp_path_factory.mktemp("flow"), rows=3000)
    sys.path.insert(0, str(root / "flows"))
    from training import training

    first = training(root=str(root))
    again = training(root=str(root))
    sys.path.remove(str(root / "flows"))
    return root, first, again


def test_stage_order_comes_from_dvc(project):
    root, _, _ = project
    assert pipeline.stage_order(root) == STAGES


def test_flow_runs_each_stage_then_skips_them(project):
    root, first, again = project
    assert [r.stage for r in first] == STAGES
    assert {r.status for r in first} == {"ran"}
    assert {r.status for r in again} == {"skipped"}
    assert "roc_auc=" in next(r.key_figure for r in first if r.stage == "evaluate")
    assert "up to date" in dvc(root, "status").stdout


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


@pytest.mark.parametrize("kind", sorted(BAD_BATCHES))
def test_bad_batches_are_refused_and_change_nothing(project, kind, tmp_path):
    root, _, _ = project
    content = BAD_BATCHES[kind](full_data().iloc[5000:5100])
    batch = tmp_path / f"{kind}.csv"
    batch.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = snapshot(root)
    done = cli(root, "ingest", str(batch), check=False)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "ingest" in done.stderr and "failed" in done.stderr
    assert snapshot(root) == before
    quarantined = list((root / "quarantine").glob(f"*-{kind}.csv"))
    assert len(quarantined) == 1 and (quarantined[0] / "report.json").is_file()


def test_good_batch_becomes_a_new_pushed_version(project, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(project[0], root)
    batch = tmp_path / "new.csv"
    full_data().iloc[5000:5300].to_csv(batch, index=False)
    before = (root / "data.dvc").read_text()
    cli(root, "ingest", str(batch))
    assert (root / "data.dvc").read_text() != before
    assert len(list((root / "data" / "batches").glob("*-new.csv"))) == 1
    assert "in sync" in dvc(root, "status", "--cloud", "data.dvc").stdout
    assert "featurize" in dvc(root, "status").stdout  # the next repro retrains on it
