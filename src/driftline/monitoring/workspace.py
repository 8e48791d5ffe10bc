"""The Evidently workspace that `driftline ui` shows: one project per model, one snapshot per monitoring run.

The stored summary.json files are the source of truth: `rebuild` makes the whole workspace again from them, so
nothing depends on the workspace surviving.
"""

from __future__ import annotations

from pathlib import Path

from evidently.ui.workspace import Project, Workspace

from driftline.monitoring.dashboard import dashboard, groups_of
from driftline.monitoring.figures import figures, snapshot
from driftline.monitoring.summary import Summary


def project(workspace: Workspace, model_name: str) -> Project:
    """MODEL_NAME's project, created where the workspace has none."""
    found = workspace.search_project(model_name)
    return found[0] if found else workspace.create_project(
        model_name, description=f"driftline monitoring runs of the model {model_name}")


def add_snapshots(workspace_dir: Path, summaries: list[Summary], model_name: str) -> list[str]:
    """Add each monitoring run of SUMMARIES to MODEL_NAME's project as one snapshot, and extend the dashboard
    with the panels their figures need (written once); the snapshots' ids."""
    workspace = Workspace(str(workspace_dir))
    found = project(workspace, model_name)
    groups, added = groups_of(workspace.get_dashboard(found.id)), []
    for summary in summaries:
        values = figures(summary)
        added.append(str(workspace.add_run(found.id, snapshot(summary, values)).id))
        groups |= {group for group, _ in values}
    # one write of the whole model: ProjectDashboard.add_panel lists a panel twice in a tab that exists already
    workspace.save_dashboard(found.id, dashboard(groups))
    return added


def rebuild(workspace_dir: Path, reports_dir: Path, model_name: str) -> int:
    """Make the workspace again from the summaries under REPORTS_DIR (<date>/<time>-<batch>/summary.json):
    every project it had is deleted, then each run is added; the number of snapshots."""
    workspace = Workspace(str(workspace_dir))
    for existing in workspace.list_projects():
        workspace.delete_project(existing.id)
    summaries = [Summary.read(path) for path in sorted(reports_dir.glob("*/*/summary.json"))]
    add_snapshots(workspace_dir, summaries, model_name)
    return len(summaries)
