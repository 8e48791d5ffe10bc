"""`driftline release --dry-run` on copies of the small trained project: a verdict, and nothing else left behind."""

import hashlib
import json
import shutil
from pathlib import Path

import bentoml
import pytest
import yaml
from typer.testing import CliRunner

from tests.helpers.project import cli


def copy_project(trained: Path, root: Path) -> Path:
    """A copy of the trained project with a smaller infra check and bootstrap: the gate's logic is the same."""
    shutil.copytree(trained, root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["gate"] |= {"bootstrap_rounds": 50, "infra": params["gate"]["infra"] | {"rows": 40}}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


def snapshot(folder: Path) -> dict[str, str | None]:
    """Every path under FOLDER: a file's sha256, None for a folder; empty when FOLDER does not exist."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
            for p in sorted(folder.rglob("*"))}


def store() -> tuple[set[str], set[str]]:
    """The tags of the local BentoML store's models and bentos."""
    return {str(m.tag) for m in bentoml.models.list()}, {str(b.tag) for b in bentoml.list()}


def names(blessing: dict) -> list[str]:
    return [c["name"] for c in blessing["checks"]]


def gate(blessing: dict) -> list[tuple]:
    """The gate's checks without the infra check, whose latencies differ from one run to the next."""
    return [(c["name"], c["value"], c["passed"]) for c in blessing["checks"] if c["kind"] != "infra"]


@pytest.fixture(scope="module")
def candidate(trained, tmp_path_factory) -> Path:
    """A copy of the trained project (its first model is champion) whose model is packaged again: a new tag,
    not registered yet, for the gate to compare with the champion."""
    from driftline.config import load_params
    from driftline.stages import package

    root = copy_project(trained, tmp_path_factory.mktemp("dry-run") / "project")
    art = root / "artifacts"
    package.run(load_params(root / "params.yaml"), art / "featurize", art / "train", art / "boost",
                art / "evaluate/decision.json", art / "audit", art / "package/package.json", root)
    return root


def test_a_dry_run_judges_against_the_champion_and_keeps_nothing_then_the_release_agrees(candidate):
    from driftline.config import load_params
    from driftline.orchestration.release import release
    from driftline.release.judge import dry_run

    params, registry, reports = load_params(candidate / "params.yaml"), candidate / "registry", candidate / "reports"
    before = snapshot(registry), snapshot(reports), store()
    champion = json.loads((registry / "registry.json").read_text())["aliases"]["champion"]

    verdict = dry_run(params, candidate / "out" / "verdict.json", candidate)

    assert (snapshot(registry), snapshot(reports), store()) == before
    saved = json.loads((candidate / "out" / "verdict.json").read_text())
    assert saved == verdict | {"blessing": verdict["blessing"].to_json()}
    assert saved["dry_run"] and saved["new"] and saved["champion"] == champion
    checks = saved["blessing"]["checks"]
    assert "load and query" in names(saved["blessing"]) and any(c["kind"] == "champion" for c in checks)
    assert saved["blessed"] == saved["blessing"]["blessed"] == all(c["passed"] for c in checks)
    assert saved["would_promote"] == saved["blessed"]

    released = release(params, candidate)  # the real release still works, and judges alike
    assert released["new"] and released["version"] == saved["version"]
    assert names(released["blessing"].to_json()) == names(saved["blessing"])
    assert gate(released["blessing"].to_json()) == gate(saved["blessing"])
    assert json.loads((registry / "registry.json").read_text())["aliases"]["challenger"] == saved["version"]

    after_release = snapshot(registry)  # a dry run of a registered model: its stored verdict, nothing would move
    again = dry_run(params, candidate / "out" / "verdict.json", candidate)
    assert not again["new"] and not again["would_promote"] and again["blessing"] == released["blessing"]
    assert snapshot(registry) == after_release


def test_the_cli_dry_run_where_no_champion_exists_yet(trained, tmp_path):
    root = copy_project(trained, tmp_path / "project")
    shutil.rmtree(root / "registry")  # a project that has released nothing yet
    before = snapshot(root / "reports"), store()

    done = cli(root, "release", "--dry-run", "--verdict", "out/verdict.json", check=False)

    verdict = json.loads((root / "out/verdict.json").read_text())
    assert done.returncode == (0 if verdict["blessed"] else 2), done.stdout + done.stderr
    assert not (root / "registry").exists() and (snapshot(root / "reports"), store()) == before
    assert verdict["new"] and verdict["champion"] is None
    assert "load and query" in names(verdict["blessing"]) and "load and query" in done.stdout
    assert not any(c["kind"] == "champion" for c in verdict["blessing"]["checks"])
    assert "nothing registered or moved" in done.stderr


def test_a_verdict_file_goes_with_a_dry_run_only(tmp_path):
    from driftline.cli import app

    done = CliRunner().invoke(app, ["release", "--verdict", str(tmp_path / "v.json")])
    assert done.exit_code == 2 and "--verdict" in done.output and not (tmp_path / "v.json").exists()
