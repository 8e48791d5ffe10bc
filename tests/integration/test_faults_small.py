"""Issue 27's small faults, each met with real processes: the infra check under an API token, a hostile `--base`
for `report pr`, and hostile files for `ingest` (gzip under any name, symlinks, private files)."""

from __future__ import annotations

import gzip
import os
import shutil
import stat
from pathlib import Path

import pytest

from driftline.serving.auth import TOKEN_VARIABLE
from tests.helpers.project import cli, full_data, git, make_project


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def quarantined(root: Path) -> set[str]:
    """The names of the quarantine folder's entries (none before the first refusal)."""
    folder = root / "quarantine"
    return set(os.listdir(folder)) if folder.is_dir() else set()


def test_the_infra_check_queries_with_the_token_it_serves_with(trained, monkeypatch):
    from driftline.config import load_params
    from driftline.core.artifacts import splits_dir
    from driftline.core.splits import load_split
    from driftline.registry.resolver import resolve_model
    from driftline.release.infra import load_and_query

    monkeypatch.setenv(TOKEN_VARIABLE, "infra-check-token")  # exported in the shell of whoever releases
    params = load_params(trained / "params.yaml")
    champion = resolve_model(params, trained)
    rows = load_split(splits_dir(trained), "test").head(20)[params.schema.features]
    # latency is not what this test checks: a loaded machine may answer slowly
    limits = params.gate.infra.model_copy(update={"max_p99_ms": 10_000})
    result = load_and_query(champion.entry["bento_tag"], champion.entry["model_tag"], champion.predictor(), rows,
                            limits)
    assert result["passed"], result
    assert (result["requests"], result["non_200"], result["mismatches"]) == (20, 0, 0)


@pytest.fixture(scope="module")
def under_git(trained, tmp_path_factory) -> Path:
    """A copy of the trained project committed to a git repository, as a pull request's checkout is."""
    root = tmp_path_factory.mktemp("pr-base") / "project"
    shutil.copytree(trained, root)
    git(root, "init", "-q")
    git(root, "add", "params.yaml", "dvc.yaml", "metrics", "plots")
    git(root, "-c", "user.email=ci@example.com", "-c", "user.name=ci", "commit", "-q", "-m", "base")
    return root


@pytest.mark.parametrize("base", ["-h", "--output=written"])
def test_report_pr_refuses_a_base_that_is_not_a_commit(under_git, tmp_path, base):
    out = tmp_path / "out"
    out.mkdir()
    done = cli(under_git, "report", "pr", f"--base={base}", "-o", str(out / "report.md"), check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"report pr failed: --base {base!r} is not a commit" in done.stderr
    assert list(out.iterdir()) == [] and not list(under_git.glob("written*"))  # no report, nothing git wrote


@pytest.fixture(scope="module")
def ingesting(tmp_path_factory) -> Path:
    """A small project to ingest into (no stage has run: ingest needs none)."""
    return make_project(tmp_path_factory.mktemp("ingest"), rows=1000)


def test_a_gzip_batch_is_ingested_whatever_its_name_and_keeps_its_mode(ingesting, tmp_path):
    batch = tmp_path / "new.csv"  # gzip inside, .csv outside
    batch.write_bytes(gzip.compress(full_data().iloc[5000:5100].to_csv(index=False).encode()))
    batch.chmod(0o640)
    cli(ingesting, "ingest", str(batch))
    (stored,) = (ingesting / "data" / "batches").glob("*-new.csv")
    assert len(stored.read_text().splitlines()) == 101 and mode(stored) == 0o640


def test_a_private_batch_behind_a_link_is_quarantined_by_name_and_stays_private(ingesting):
    private = ingesting / "incoming" / "private.csv.gz"
    private.parent.mkdir()
    content = gzip.compress(bytes(range(256)))  # gzip of no CSV
    private.write_bytes(content)
    private.chmod(0o600)
    link = ingesting / "incoming" / "batch.csv.gz"
    link.symlink_to(private)  # inside the project: followed
    done = cli(ingesting, "ingest", str(link), check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{link} is not a readable CSV file" in done.stderr and "BytesIO" not in done.stderr
    (folder,) = (ingesting / "quarantine").glob("*-batch.csv.gz")
    copy = folder / "batch.csv.gz"
    assert copy.read_bytes() == content and mode(copy) == 0o600 and mode(folder) == 0o700


def test_a_link_out_of_the_project_is_refused_before_anything_is_read(ingesting, tmp_path):
    secret = tmp_path / "id_rsa"
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    secret.chmod(0o600)
    link = tmp_path / "new.csv"
    link.symlink_to(secret)
    before = quarantined(ingesting)
    done = cli(ingesting, "ingest", str(link), check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    target = os.path.realpath(secret)
    assert f"ingest {link} failed: {link} is a symlink to {target}, outside the project" in done.stderr
    assert quarantined(ingesting) == before
