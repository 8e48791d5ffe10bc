"""The GitHub workflows: both are there, only the jobs that comment or commit may write, and torch comes from the
CPU index (their lint, by tools, is in tests/integration/test_workflows.py)."""

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))


def test_there_are_workflows():
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "retrain.yml"}


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
