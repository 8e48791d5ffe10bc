"""The Evidently workspace of monitoring runs: one snapshot per summary, read back through Evidently's own API."""

import shutil

import pytest
from evidently.ui.workspace import Workspace

from driftline.monitoring.figures import DriftlineFigure
from driftline.monitoring.uncertainty import BAND
from driftline.monitoring.workspace import add_snapshots, rebuild
from tests.helpers.project import REPO, cli_in_process
from tests.helpers.summaries import ENDS, summary, typed, write_summaries

MODEL = "adult"


def stored(workspace_dir) -> list[dict]:
    """Each snapshot of MODEL's project as Evidently reads it back, in time order: its figures by (group, label)."""
    workspace = Workspace(str(workspace_dir))
    [project] = workspace.search_project(MODEL)
    runs = [workspace.get_run(project.id, run) for run in workspace.list_runs(project.id)]
    figure = DriftlineFigure.__get_type__()
    return sorted(({"timestamp": run.timestamp, "name": run.name, "tags": sorted(run.tags), "metadata": run.metadata,
                    "values": {(p["group"], p["label"]): result.value for result in run.metric_results.values()
                               if (p := result.metric_value_location.metric.params)["type"] == figure}}
                   for run in runs), key=lambda run: run["timestamp"])


def test_three_runs_read_back_with_their_figures_tags_and_windows(tmp_path):
    for window in range(3):
        add_snapshots(tmp_path / "ws", typed([summary(window)]), MODEL)
    runs = stored(tmp_path / "ws")
    assert [run["timestamp"] for run in runs] == ENDS
    assert runs[0]["tags"] == sorted(["model_version:v1", "task:binary", f"batch:{summary(0)['batch']}", "window"])
    assert runs[2]["metadata"] | {"window_end": ENDS[2].isoformat()} == runs[2]["metadata"]
    assert runs[2]["metadata"]["model_version"] == "v2" and runs[2]["name"] == summary(2)["batch"]
    last = runs[2]["values"]
    assert last[("drift.score", "age")] == pytest.approx(0.14) and last[("drift.prediction", "prediction")] > 0
    assert last[("drift", "drifted share")] == pytest.approx(0.1) and last[("drift", "dataset drift")] == 1
    assert last[("performance.roc_auc", "estimated")] == pytest.approx(0.83)
    assert last[("performance.roc_auc", f"estimated - {BAND} SE")] == pytest.approx(0.83 - BAND * 0.01)
    assert last[("performance.roc_auc", f"estimated + {BAND} SE")] == pytest.approx(0.83 + BAND * 0.01)
    assert last[("performance.roc_auc", "realised")] == pytest.approx(0.82)
    assert last[("performance.roc_auc", "lower threshold")] == pytest.approx(0.86)
    assert last[("performance.accuracy", "upper threshold")] == pytest.approx(0.91)
    assert last[("performance.roc_auc", "test")] == pytest.approx(0.92) and last[("labels", "coverage")] == 1.0
    assert last[("attribution", "nDCG")] == pytest.approx(0.9) and last[("attribution.share", "age")] == 0.6
    assert last[("fairness.demographic_parity_difference", "sex")] == pytest.approx(0.26)
    assert last[("fairness.demographic_parity_difference", "sex (audit)")] == pytest.approx(0.15)
    assert ("fairness.tpr_gap", "sex") not in last  # a gap the window could not measure is no point at all
    assert last[("alerts", "count")] == 1 and last[("alerts.rule", "dataset_drift")] == 1
    assert last[("model_version", "v2")] == 1002 and ("performance.roc_auc", "realised") not in runs[0]["values"]

    dashboard = Workspace(str(tmp_path / "ws")).get_dashboard(Workspace(str(tmp_path / "ws")).list_projects()[0].id)
    assert [tab.title for tab in dashboard.tabs] == ["Drift", "Performance", "Fairness", "Explanations",
                                                    "Alerts and model versions"]
    titles = {panel.title for panel in dashboard.panels}
    assert {"roc_auc: realised and estimated", "demographic_parity_difference per attribute"} <= titles
    assert all(len(tab.panels) == len(set(tab.panels)) for tab in dashboard.tabs)


def test_rebuild_gives_the_same_snapshots_and_drops_what_was_there(tmp_path):
    for window in range(3):
        add_snapshots(tmp_path / "added", typed([summary(window)]), MODEL)
    write_summaries(tmp_path / "monitoring")
    shutil.copytree(tmp_path / "added", tmp_path / "rebuilt")  # rebuilding over it must not double anything
    assert rebuild(tmp_path / "rebuilt", tmp_path / "monitoring", MODEL) == 3
    assert stored(tmp_path / "rebuilt") == stored(tmp_path / "added")
    assert len(Workspace(str(tmp_path / "rebuilt")).list_projects()) == 1


def test_the_cli_rebuilds_the_workspace_from_the_projects_summaries(tmp_path):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    write_summaries(tmp_path / "reports" / "monitoring")
    done = cli_in_process(tmp_path, "workspace", "rebuild", "--workspace", "reports/ws")
    assert "3 snapshot(s)" in done.stderr
    workspace = Workspace(str(tmp_path / "reports" / "ws"))
    [project] = workspace.list_projects()
    assert len(workspace.list_runs(project.id)) == 3


def test_segments_get_a_tab_with_a_series_per_segment(tmp_path):
    segment = {"rows": 500, "drifted_share": 0.2, "drifted_columns": ["age"], "prediction_drift": False,
               "performance": {"estimated": {"roc_auc": 0.81}, "realised": None}, "fairness": {}}
    watched = summary(2) | {"segments": {"values": {"sex=Female": segment, "sex=Male": segment | {"rows": 900}}}}
    add_snapshots(tmp_path / "ws", typed([watched]), MODEL)
    [run] = stored(tmp_path / "ws")
    assert run["values"][("segment.drifted share", "sex=Female")] == pytest.approx(0.2)
    assert run["values"][("segment.rows", "sex=Male")] == 900
    assert run["values"][("segment.roc_auc estimated", "sex=Male")] == pytest.approx(0.81)
    workspace = Workspace(str(tmp_path / "ws"))
    dashboard = workspace.get_dashboard(workspace.list_projects()[0].id)
    assert [tab.title for tab in dashboard.tabs][-2:] == ["Segments", "Alerts and model versions"]
    assert {"drifted share per segment", "roc_auc estimated per segment"} <= {p.title for p in dashboard.panels}
