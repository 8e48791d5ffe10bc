"""The GitHub workflows lint clean: actionlint, and check-jsonschema's vendored GitHub workflow schema (both run as
tools).

actionlint also runs shellcheck on `run:` scripts where shellcheck is on PATH (GitHub's runners have it).
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
