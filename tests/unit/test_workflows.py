"""The GitHub workflows lint clean: actionlint, and check-jsonschema's vendored GitHub workflow schema.

actionlint also runs shellcheck on `run:` scripts where shellcheck is on PATH (GitHub's runners have it).
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))
BROKEN = """\
name: broken
on: push
jobs:
  test:
    steps:
      - uses: actions/checkout@v5
      - run: echo "${{ github.no_such_context }}"
"""


def tool(name: str) -> str:
    """The tool in this environment's bin folder, else on PATH; the test skips where neither has it."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed")
    return found


def actionlint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([tool("actionlint"), "-no-color", str(path)], capture_output=True, text=True, timeout=60)


def schema_check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)],
                          capture_output=True, text=True, timeout=60)


def test_there_are_workflows():
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "retrain.yml"}


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actionlint_passes(workflow):
    result = actionlint(workflow)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_the_github_workflow_schema_accepts_it(workflow):
    result = schema_check(workflow)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(BROKEN)
    result = actionlint(broken)
    assert result.returncode == 1
    assert "runs-on" in result.stdout and "no_such_context" in result.stdout


def test_the_schema_rejects_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(BROKEN)
    result = schema_check(broken)
    assert result.returncode == 1 and "runs-on" in result.stdout


def test_only_the_jobs_that_comment_or_commit_may_write():
    """Read-only by default; pull-requests: write where the comment is posted, contents: write where commits are."""
    for workflow in WORKFLOWS:
        spec = yaml.safe_load(workflow.read_text())
        assert spec["permissions"] == {"contents": "read"}, workflow.name
        for name, job in spec["jobs"].items():
            writes = {scope for scope, level in job.get("permissions", {}).items() if level == "write"}
            steps = yaml.safe_dump(job.get("steps", []))
            if "pull-requests" in writes:
                assert "issues/comments" in steps, name
            if "contents" in writes:
                assert "git push" in steps, name


def test_the_workflows_install_torch_from_the_cpu_index():
    for workflow in WORKFLOWS:
        spec = yaml.safe_load(workflow.read_text())
        envs = [spec.get("env", {})] + [job.get("env", {}) for job in spec["jobs"].values()]
        if "make install" in workflow.read_text():
            assert any(env.get("PIP_EXTRA_INDEX_URL") == "https://download.pytorch.org/whl/cpu" for env in envs)
