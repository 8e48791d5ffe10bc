"""`driftline report pr` after a params change: a copy of the trained project put under git, retrained, reported."""

from __future__ import annotations

import re
import shutil

import yaml

from tests.helpers.project import cli, dvc, git, model_stages


def commit(root, message: str) -> None:
    """Record the stages' outputs in dvc.lock and the cache, then commit what a DVC project keeps in git."""
    dvc(root, "commit", "-f", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def test_a_params_change_gets_a_report_with_intervals_the_verdict_and_plots(trained, tmp_path):

    root = tmp_path / "project"
    shutil.copytree(trained, root)
    # the fixture is DVC without git; a pull request's checkout is both
    dvc(root, "config", "core.no_scm", "false")
    (root / ".gitignore").write_text("/data\n/remote\n/artifacts\n/registry/models\n/reports\n")
    git(root, "init", "-q")
    git(root, "config", "user.email", "ci@example.com")
    git(root, "config", "user.name", "ci")
    commit(root, "base: the released model")

    seed = yaml.safe_load((root / "params.yaml").read_text())["train"]["seed"]
    model_stages(root, {"seed": seed + 1, "max_epochs": 2}, packaged=False)
    commit(root, "candidate: another seed, fewer epochs")
    registry = (root / "registry/registry.json").read_bytes()

    cli(root, "report", "pr", "--base", "HEAD~1", "-o", "report.md")
    report = (root / "report.md").read_text()

    assert re.search(r"\| metrics/evaluate\.json \| roc_auc \| 0\.\d{4} \| 0\.\d{4} \| [+-]0\.\d{4} \|", report)
    assert "| candidate - champion |" in report  # the paired bootstrap against the base's model
    assert re.search(r"Verdict: \*\*(blessed|refused)\*\*", report) and "| roc_auc vs champion |" in report
    assert "## Top 5 features by mean |SHAP|" in report and "| base rank |" in report
    assert "sex_demographic_parity_difference" in report and "The data contract **passed**" in report
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", report)
    for title in ("roc", "calibration"):
        (link,) = [link for link in links if link.startswith(f"report-plots/{title}")]
        assert (root / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (root / "registry/registry.json").read_bytes() == registry  # a report registers nothing
